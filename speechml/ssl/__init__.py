"""Self-supervised speech models: wav2vec 2.0 (continued) pretraining, CTC fine-tuning."""
