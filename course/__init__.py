"""Runtime library of the course "Transfer Learning for NLP, built from scratch".

Infrastructure only (data, training loop, scales, plotting, notebook loading, CLI):
no exercise answer lives here, so a learner can read every line of it.
"""

__version__ = "0.1.0"
