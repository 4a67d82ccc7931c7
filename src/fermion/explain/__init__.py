"""Why a model answered as it did, with Captum: the attribution of one input's answer to
its pixels, tokens or features, and a model's global feature importance over a split.

explainer.py  Explainer(model): one raw input -> an Explanation, by the model's kind
images.py     Integrated Gradients and occlusion maps, and the heat map over the image
text.py       token attributions (Integrated Gradients on the input embeddings, occlusion)
tables.py     Shapley value sampling and Integrated Gradients per record
importance.py global importance over a dataset split, for an evaluation job
"""

from fermion.explain.explainer import Explainer

__all__ = ["Explainer"]
