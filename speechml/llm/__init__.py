"""Audio-LLM instruction tuning: speech encoder -> projector -> causal LM with LoRA."""
