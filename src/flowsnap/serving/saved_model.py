"""``flow.saved_model``: the builders of a saved model (public face of
:mod:`flowsnap.serving._builder`)."""

from flowsnap.serving._builder import GraphBuilder, ModelBuilder, SignatureBuilder

__all__ = ["GraphBuilder", "ModelBuilder", "SignatureBuilder"]
