"""Does our pretraining learn as well as keras-hub's? `bert_tiny` from scratch on Gutenberg, same batches.

1. Learn an 8,000-piece uncased WordPiece vocab on the training books (all but the last two of the 26).
2. `create-pretraining-data` for the training books (dupe factor 2) and, separately, the two held-out books.
3. Train, on the identical stream of batches (static masks, fixed order), for `--steps` steps with the same
   learning-rate schedule (linear warmup over 10% of the steps, then linear decay to zero, peak `--lr`):
   - ours: `BertPretrainer` (MLM + NSP) with our `PretrainingLoop` and the original's AdamW (with
     `--adam-bias-correction`, Adam's bias-corrected moments, as keras' AdamW has);
   - keras-hub: `BertMaskedLM` on a `BertBackbone` of the same size (MLM only; no NSP head), `model.fit`
     with `keras.optimizers.AdamW` (weight decay 0.01, epsilon 1e-6, clipping 1.0).
4. Every `--eval-every` steps, held-out MLM accuracy (over real masked positions) of both, and our NSP accuracy.

Writes `curves.json` and `curves.png` (training loss and held-out MLM accuracy over steps) to `--out`.

    python benchmarks/compare_pretraining_learning.py --steps 600 --out benchmarks/learning
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
CORPUS = os.path.join(HERE, "..", "..", "shared", "data", "gutenberg", "corpus.txt")


def prepare(work: str, vocab_size: int) -> tuple[str, str, str]:
    from bert_tf.cli import main as cli
    from bert_tf.tokenization import learn_vocab
    books = open(CORPUS, encoding="utf-8").read().split("\n\n")
    train_text, heldout_text = os.path.join(work, "train.txt"), os.path.join(work, "heldout.txt")
    if not os.path.exists(heldout_text):
        open(train_text, "w", encoding="utf-8").write("\n\n".join(books[:-2]) + "\n")
        open(heldout_text, "w", encoding="utf-8").write("\n\n".join(books[-2:]) + "\n")
    vocab = os.path.join(work, "vocab.txt")
    if not os.path.exists(vocab):
        tokens = learn_vocab(train_text, vocab_size)
        open(vocab, "w", encoding="utf-8").write("\n".join(tokens) + "\n")
    for name, text, dupe in (("train", train_text, "2"), ("heldout", heldout_text, "1")):
        assert cli(["create-pretraining-data", "--input", text, "--vocab", vocab, "--output-dir",
                    os.path.join(work, name), "--dupe-factor", dupe, "--num-shards", "1", "--num-workers", "2"]) == 0
    return vocab, os.path.join(work, "train", "*.tfrecord"), os.path.join(work, "heldout", "*.tfrecord")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--eval-batches", type=int, default=20)
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--out", default=os.path.join(HERE, "learning"))
    parser.add_argument("--adam-bias-correction", action="store_true",
                        help="our AdamW with Adam's bias correction (keras-hub's AdamW has it)")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    work = os.path.join(args.out, "work")
    os.makedirs(work, exist_ok=True)

    import keras
    import keras_hub
    import numpy as np
    import tensorflow as tf

    from bert_tf import BertConfig, BertEncoder, BertPretrainer
    from bert_tf.training.loop import PretrainingLoop
    from bert_tf.training.optimization import WarmupLinearDecay, create_optimizer
    from pipelines.pretraining.input_pipeline import pretraining_dataset

    vocab, train_pattern, heldout_pattern = prepare(work, args.vocab_size)
    vocab_size = sum(1 for _ in open(vocab, encoding="utf-8"))
    config = BertConfig.from_preset("bert_tiny", vocab_size=vocab_size)
    warmup = max(1, args.steps // 10)
    keras.utils.set_random_seed(0)

    # The same batches for both, in the same order.
    train = pretraining_dataset(train_pattern, args.batch_size, seed=0)
    batches = [{k: v.numpy() for k, v in b.items()} for b in train.take(args.steps)]
    heldout = [{k: v.numpy() for k, v in b.items()}
               for b in pretraining_dataset(heldout_pattern, 64, is_training=False).take(args.eval_batches)]

    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    with strategy.scope():
        ours = BertPretrainer(BertEncoder.from_bert_config(config))
        optimizer = create_optimizer("adamw", args.lr, args.steps, warmup, max_grad_norm=None,
                                     bias_correction=args.adam_bias_correction)
        loop = PretrainingLoop(ours, optimizer, strategy, max_grad_norm=1.0)

    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=vocab_size, num_layers=config.num_hidden_layers, num_heads=config.num_attention_heads,
        hidden_dim=config.hidden_size, intermediate_dim=config.intermediate_size, max_sequence_length=512)
    theirs = keras_hub.models.BertMaskedLM(backbone, preprocessor=None)
    theirs.compile(optimizer=keras.optimizers.AdamW(WarmupLinearDecay(args.lr, args.steps, warmup), weight_decay=0.01,
                                                    epsilon=1e-6, global_clipnorm=1.0),
                   loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), weighted_metrics=[])

    def hub_inputs(b):
        return {"token_ids": b["input_word_ids"], "padding_mask": b["input_mask"].astype(bool),
                "segment_ids": b["input_type_ids"], "mask_positions": b["masked_lm_positions"]}

    def hub_accuracy() -> float:
        correct = total = 0.0
        for b in heldout:
            logits = theirs.predict_on_batch(hub_inputs(b))
            w = b["masked_lm_weights"]
            correct += float(((np.argmax(logits, -1) == b["masked_lm_ids"]) * w).sum())
            total += float(w.sum())
        return correct / total

    def our_eval() -> dict:
        it = iter(strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensor_slices(
            {k: np.concatenate([b[k] for b in heldout]) for k in heldout[0]}).batch(64)))
        return loop.evaluate(it, len(heldout))

    curves = {"step": [], "ours_loss": [], "keras_hub_loss": [], "ours_heldout_mlm_accuracy": [],
              "keras_hub_heldout_mlm_accuracy": [], "ours_heldout_nsp_accuracy": [], "ours_train_loss_per_step": [],
              "keras_hub_train_loss_per_step": []}
    data_it = iter(strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensor_slices({k: np.concatenate([b[k] for b in batches]) for k in batches[0]})
        .batch(args.batch_size)))
    start = time.time()
    for step in range(1, args.steps + 1):
        figures = loop.train(data_it, 1)
        b = batches[step - 1]
        hub_loss = theirs.train_on_batch(hub_inputs(b), b["masked_lm_ids"], sample_weight=b["masked_lm_weights"])
        curves["ours_train_loss_per_step"].append(figures["mlm_loss"])
        curves["keras_hub_train_loss_per_step"].append(float(np.asarray(hub_loss).reshape(-1)[0]))
        if step % args.eval_every == 0 or step == args.steps:
            ours_eval = our_eval()
            curves["step"].append(step)
            curves["ours_loss"].append(ours_eval["mlm_loss"])
            curves["ours_heldout_mlm_accuracy"].append(ours_eval["mlm_accuracy"])
            curves["ours_heldout_nsp_accuracy"].append(ours_eval["nsp_accuracy"])
            curves["keras_hub_heldout_mlm_accuracy"].append(hub_accuracy())
            curves["keras_hub_loss"].append(float(np.mean(curves["keras_hub_train_loss_per_step"][-args.eval_every:])))
            print(f"step {step}: held-out MLM accuracy ours {curves['ours_heldout_mlm_accuracy'][-1]:.4f}, keras-hub "
                  f"{curves['keras_hub_heldout_mlm_accuracy'][-1]:.4f}; our NSP accuracy "
                  f"{curves['ours_heldout_nsp_accuracy'][-1]:.4f} ({time.time() - start:.0f} s)", flush=True)
    json.dump(curves, open(os.path.join(args.out, "curves.json"), "w"), indent=1)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    steps = range(1, args.steps + 1)
    left.plot(steps, curves["ours_train_loss_per_step"], label="bert-tf (MLM part)", lw=0.8)
    left.plot(steps, curves["keras_hub_train_loss_per_step"], label="keras-hub BertMaskedLM", lw=0.8)
    left.set(title="training MLM loss", xlabel="step", ylabel="cross-entropy")
    left.legend()
    right.plot(curves["step"], curves["ours_heldout_mlm_accuracy"], "o-", label="bert-tf MLM")
    right.plot(curves["step"], curves["keras_hub_heldout_mlm_accuracy"], "s-", label="keras-hub MLM")
    right.plot(curves["step"], curves["ours_heldout_nsp_accuracy"], "^--", label="bert-tf NSP")
    right.set(title="held-out accuracy (2 unseen books)", xlabel="step", ylabel="accuracy")
    right.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "curves.png"), dpi=110)
    print(json.dumps({k: v[-1] for k, v in curves.items() if v}, indent=1))


if __name__ == "__main__":
    main()
