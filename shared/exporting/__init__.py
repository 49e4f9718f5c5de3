"""Exports of trained models: Custom Vision's layouts and platforms."""
