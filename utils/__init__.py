"""Shared helpers for the notebooks of *Deep Learning for Computer Vision* (SJK02, UJI).

Only code that several chapters need lives here; the networks a chapter teaches are written in
that chapter's notebook.

Submodules: ``actions`` (generated action clips, time reversal, a clip viewer), ``architecture`` (layer
depth, calibration for identity proofs), ``benchmark`` (latency),
``biometrics`` (FMR, FNMR, ROC, DET, EER, CMC, open-set rates), ``boxes`` (box formats, IoU, GIoU, box coding,
anchors), ``cells`` (synthetic touching cells, border weights), ``detection`` (NMS, AP and mAP equal to
COCOeval), ``detection_data`` (generated shapes with exact boxes), ``detection_training`` (training and
running a detector), ``digit_strings`` (strings of MNIST digits, CTC decoding, character error rate),
``diagrams`` (architecture diagrams drawn from code, with the sizes they state),
``embedding`` (face embedding network, metric-learning losses, training and evaluation), ``flow`` (generated
motion with exact optical flow, the motorcycle stereo pair, warping, end-point error, Horn–Schunck and the
classical baselines), ``fcos``
(the one-stage detector of chapter 4, in pieces), ``identities`` (generated faces of many identities, in
groups), ``models`` (networks reused after the notebook that teaches them), ``self_supervised`` (the
linear-probe and k-NN evaluation protocol, SimCLR-style augmentations, NT-Xent, chapter 9's encoder),
``pretext`` (rotation, jigsaw and inpainting), ``contrastive`` (SimCLR), ``non_contrastive`` (SimSiam),
``sequences`` (sequences of digits that must be remembered over a chosen distance), ``segmentation`` (U-Net, IoU,
weighted loss), ``transformers`` (attention, the Vision Transformer, attention rollout),
``video_models`` (the small video classifiers of chapter 8), ``widgets`` (explorers that also
run headless).
"""

from . import (
    actions,
    architecture,
    benchmark,
    biometrics,
    boxes,
    cells,
    contrastive,
    detection,
    detection_data,
    detection_training,
    diagrams,
    digit_strings,
    embedding,
    fcos,
    flow,
    identities,
    models,
    non_contrastive,
    pretext,
    segmentation,
    self_supervised,
    sequences,
    transformers,
    video_models,
    widgets,
)
from .config import (
    DEVICE_ENV,
    MODE_ENV,
    data_dir,
    get_device,
    get_mode,
    is_quick,
    model_device,
    pick,
    seed_everything,
    setup,
)
from .data import load_cifar10, load_digits, load_mnist, load_skimage, make_loaders, split_dataset
from .plotting import plot_histories, plot_history, show_feature_maps, show_images
from .stats import (
    ModelComparison,
    assert_same_model,
    compare_models,
    count_flops,
    count_macs,
    count_params,
    layer_table,
)
from .synthetic import make_clutter, make_faces
from .training import History, evaluate, fit, predict

__all__ = [
    "actions",
    "architecture",
    "benchmark",
    "biometrics",
    "boxes",
    "cells",
    "contrastive",
    "detection",
    "detection_data",
    "detection_training",
    "digit_strings",
    "diagrams",
    "embedding",
    "fcos",
    "flow",
    "identities",
    "models",
    "non_contrastive",
    "pretext",
    "segmentation",
    "self_supervised",
    "sequences",
    "transformers",
    "video_models",
    "widgets",
    "DEVICE_ENV",
    "MODE_ENV",
    "History",
    "ModelComparison",
    "assert_same_model",
    "compare_models",
    "count_flops",
    "count_macs",
    "count_params",
    "data_dir",
    "evaluate",
    "fit",
    "get_device",
    "get_mode",
    "is_quick",
    "layer_table",
    "load_cifar10",
    "load_digits",
    "load_mnist",
    "load_skimage",
    "make_clutter",
    "make_faces",
    "make_loaders",
    "model_device",
    "pick",
    "plot_histories",
    "plot_history",
    "predict",
    "seed_everything",
    "setup",
    "show_feature_maps",
    "show_images",
    "split_dataset",
]
