"""Training objectives: supervised fine-tuning, continued pre-training, sequence classification and
preference optimisation (DPO, ORPO, SimPO, KTO through TRL), each one entry of ``registry`` and
one file with its recipe. ``trainers.train.run_training`` runs any of them the same way.
"""
