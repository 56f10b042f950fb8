"""``flow.serving`` and ``flow.saved_model``: export predict jobs in OneFlow's saved-model layout
(with the graph as a ``jax.export`` artifact beside it) and serve them with
``InferenceSession``."""

from flowsnap.serving import saved_model as saved_model
from flowsnap.serving._builder import GraphBuilder as GraphBuilder
from flowsnap.serving._builder import ModelBuilder as ModelBuilder
from flowsnap.serving._builder import SignatureBuilder as SignatureBuilder
from flowsnap.serving._graph import SavedGraph as SavedGraph
from flowsnap.serving._graph import read_graph as read_graph
from flowsnap.serving._proto import message_class as message_class
from flowsnap.serving._session import InferenceSession as InferenceSession
from flowsnap.serving._session import ModelVersionPolicy as ModelVersionPolicy
from flowsnap.serving._session import SessionOption as SessionOption

__all__ = [
    "GraphBuilder",
    "InferenceSession",
    "ModelBuilder",
    "ModelVersionPolicy",
    "SavedGraph",
    "SessionOption",
    "SignatureBuilder",
    "message_class",
    "read_graph",
    "saved_model",
]
