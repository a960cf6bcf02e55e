"""Evaluation: perplexity, classifier accuracy and macro-F1, and generations, for the evaluate job.

The functions are also what quantize (and merge) jobs use to measure a model before and after:
``metrics.perplexity`` / ``metrics.score_texts``, ``metrics.accuracy`` / ``metrics.macro_f1``,
``generate.generate``.
"""
