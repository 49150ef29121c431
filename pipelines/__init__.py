"""tf.data (and, for scale, Apache Beam) data pipelines of bert-tf. Filled in by the data issues."""
