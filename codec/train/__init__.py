"""Training: settings (config), crops (data), the trained model (model), the loop,
checkpoints, distributed setup, and export to a model's weight files."""
