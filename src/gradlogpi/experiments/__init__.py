"""Published experiments, reproduced (Sutton & Barto chapter 13)."""
