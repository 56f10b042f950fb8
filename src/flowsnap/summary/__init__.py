"""``flow.summary``: event files TensorBoard reads (scalars, histograms, images, text,
hyperparameters), written by ops inside jobs or directly, and OneFlow's graph and projector
files."""

from flowsnap.summary._encode import bucket_limits as bucket_limits
from flowsnap.summary._graph import Graph as Graph
from flowsnap.summary._graph import Projector as Projector
from flowsnap.summary._hparams import HParam as HParam
from flowsnap.summary._hparams import IntegerRange as IntegerRange
from flowsnap.summary._hparams import Metric as Metric
from flowsnap.summary._hparams import RealRange as RealRange
from flowsnap.summary._hparams import ValueSet as ValueSet
from flowsnap.summary._hparams import hparams as hparams
from flowsnap.summary._hparams import text as text
from flowsnap.summary._ops import create_summary_writer as create_summary_writer
from flowsnap.summary._ops import flush_summary_writer as flush_summary_writer
from flowsnap.summary._ops import histogram as histogram
from flowsnap.summary._ops import image as image
from flowsnap.summary._ops import parse_summary as parse_summary
from flowsnap.summary._ops import pb as pb
from flowsnap.summary._ops import scalar as scalar
from flowsnap.summary._proto import message_class as message_class
from flowsnap.summary._records import crc32c as crc32c
from flowsnap.summary._records import frame as frame
from flowsnap.summary._records import masked_crc32c as masked_crc32c
from flowsnap.summary._records import read_records as read_records
from flowsnap.summary._writer import EventWriter as EventWriter
from flowsnap.summary._writer import close_writer as close_writer

Hparam = HParam  # OneFlow 0.3's spelling

__all__ = [
    "EventWriter",
    "Graph",
    "HParam",
    "Hparam",
    "IntegerRange",
    "Metric",
    "Projector",
    "RealRange",
    "ValueSet",
    "bucket_limits",
    "close_writer",
    "crc32c",
    "create_summary_writer",
    "flush_summary_writer",
    "frame",
    "histogram",
    "hparams",
    "image",
    "masked_crc32c",
    "message_class",
    "parse_summary",
    "pb",
    "read_records",
    "scalar",
    "text",
]
