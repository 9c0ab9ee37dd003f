"""SMS without I/O: text to SMPP segments and back, delivery receipts, opt-out keywords."""
