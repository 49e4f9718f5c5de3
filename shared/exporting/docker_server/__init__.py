"""The DockerFile export's server, copied into each export's zip (the product never imports it)."""
