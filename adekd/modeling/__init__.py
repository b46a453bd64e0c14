"""The student model, its processor and the ``ade-extraction`` pipeline.

Importing this package (``import adekd`` does) registers the student with transformers: its
config with ``AutoConfig``, the model with ``AutoModel``, and the pipeline task
``"ade-extraction"``. The model is registered with ``AutoModel`` rather than
``AutoModelForTokenClassification`` because its output (per-drug tag scores, decoded spans) is
not the token-classification contract, and the ``token-classification`` pipeline must not pick it.
``register_for_auto_class`` makes ``save_pretrained`` copy the modeling files next to the
weights, so a saved folder loads with ``trust_remote_code=True`` where adekd is not installed.
"""

from transformers import AutoConfig, AutoModel
from transformers.pipelines import PIPELINE_REGISTRY

from adekd.modeling.configuration_adekd import AdeStudentConfig
from adekd.modeling.modeling_adekd import (
    AdeSpanPrediction,
    AdeStudentForExtraction,
    AdeStudentOutput,
    AdeStudentPreTrainedModel,
    bio_decode,
    bio_spans,
)
from adekd.modeling.pipeline_adekd import AdeExtractionPipeline, extract, iter_extract, load_pipeline
from adekd.modeling.processing_adekd import AdeDataCollator, AdeStudentProcessor, Window
from adekd.modeling.student import (
    DEFAULT_ENCODER,
    extract_file,
    init_student,
    iter_input_records,
    resolve_encoder,
)

AutoConfig.register(AdeStudentConfig.model_type, AdeStudentConfig, exist_ok=True)
AutoModel.register(AdeStudentConfig, AdeStudentForExtraction, exist_ok=True)
AdeStudentConfig.register_for_auto_class()
AdeStudentForExtraction.register_for_auto_class("AutoModel")
PIPELINE_REGISTRY.register_pipeline(
    "ade-extraction", pipeline_class=AdeExtractionPipeline, pt_model=AutoModel, type="text"
)

__all__ = [
    "DEFAULT_ENCODER",
    "AdeDataCollator",
    "AdeExtractionPipeline",
    "AdeSpanPrediction",
    "AdeStudentConfig",
    "AdeStudentForExtraction",
    "AdeStudentOutput",
    "AdeStudentPreTrainedModel",
    "AdeStudentProcessor",
    "Window",
    "bio_decode",
    "bio_spans",
    "extract",
    "extract_file",
    "init_student",
    "iter_input_records",
    "iter_extract",
    "load_pipeline",
    "resolve_encoder",
]
