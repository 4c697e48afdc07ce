"""Multi-turn gold: conversations on the seeds and on the SQuAD dev articles, scored per turn."""
