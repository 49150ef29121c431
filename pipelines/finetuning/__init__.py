"""Fine-tuning data: GLUE-style tables, SQuAD JSON and CoNLL files into tf.data datasets.

Each reader checks its input as it reads and names the file and line of anything it cannot use.
Tokenization runs as TensorFlow ops (`bert_tf.BertTokenizer`), in batches.
"""
