"""Training objectives other than causal-LM SFT: continued pre-training, sequence classification
and preference optimisation (DPO, ORPO, SimPO, KTO through TRL).

One file per family, each a ``run_*`` function that reads top to bottom. ``params`` holds the
objectives' parameter groups and which dataset task each objective learns from; it imports
neither torch nor the spec, so ``trainers.spec`` can import it. ``registry`` dispatches a spec.
"""
