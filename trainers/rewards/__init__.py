"""Reward functions for reinforcement fine-tuning: the registry is ``trainers.rewards.registry``."""
