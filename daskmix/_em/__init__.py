"""The EM algorithms: the model protocol and the drivers that run it.

Batch EM, stepwise (mini-batch) EM and the model-selection sweep talk to a
model family through :class:`~daskmix._em.model.MixtureModel` only, and
return results; they never read or write estimator attributes.
"""
