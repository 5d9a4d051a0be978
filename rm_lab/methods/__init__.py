"""One LightningModule (or a small composite of them) per method."""
