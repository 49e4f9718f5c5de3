"""Training with torch: imported only by the trainer, never by the API or the prediction path."""
