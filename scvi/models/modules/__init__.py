"""Neural network building blocks of the models (layers, encoders, decoders)."""

from .decoders import Decoder, DecoderSCVI, LinearDecoderSCVI
from .encoders import Encoder
from .fc_layers import FCLayers
from .multi import MultiDecoder, MultiEncoder
from .totalvi import DecoderTOTALVI, EncoderTOTALVI
from .utils import identity, reparameterize_gaussian

__all__ = [
    "Decoder",
    "DecoderSCVI",
    "DecoderTOTALVI",
    "Encoder",
    "EncoderTOTALVI",
    "FCLayers",
    "LinearDecoderSCVI",
    "MultiDecoder",
    "MultiEncoder",
    "identity",
    "reparameterize_gaussian",
]
