"""`bert-tf quickstart` on a tiny budget: every stage runs on the shipped data, the report and plots are written,
the export is served from a fresh process, and a rerun skips the finished stages."""

import json
import os
import time

from tests.conftest import run_cli


def test_quickstart_end_to_end_and_rerun(tmp_path, capsys):
    workdir, saved = str(tmp_path / "qs"), str(tmp_path / "saved_models")
    args = ["quickstart", "--workdir", workdir, "--saved-models", saved, "--steps", "10", "--batch-size", "16",
            "--finetune-epochs", "1"]
    assert run_cli(*args) == 0
    captured = capsys.readouterr()
    out = captured.out
    assert "output bias: log piece frequencies of" in captured.err  # pretraining starts from the prior
    state = json.load(open(os.path.join(workdir, "stages.json")))
    names = ["vocab", "pretraining_data", "pretrain", "evaluate", "finetune_pretrained", "finetune_random",
             "export", "serve", "report"]
    assert all(n in state for n in names)
    assert state["pretrain"]["figures"]["steps"] == 10
    assert 0 <= state["evaluate"]["figures"]["mlm_accuracy"] <= 1
    assert state["finetune_random"]["figures"]["heldout_examples"] == 2000  # 200 of the sample + 1,800 shipped
    for name in ("report.md", "pretraining.png", "finetuning.png"):
        assert os.path.getsize(os.path.join(workdir, name)) > 1000
    report = open(os.path.join(workdir, "report.md")).read()
    assert "fine-tune from pretrained" in report and "bert-tf pretrain --config" in report
    assert "--adam-epsilon 0.001 --output-bias-prior" in report
    assert "95% interval" in report and "2000 sentences" in report
    assert os.path.isfile(os.path.join(saved, "quickstart_sst2", "1", "saved_model.pb"))
    assert os.path.isfile(os.path.join(saved, "quickstart_bert_tiny_encoder", "1", "saved_model.pb"))
    predictions = state["serve"]["figures"]["predictions"]
    assert len(predictions) == 3 and all(p["label"] in ("0", "1") for p in predictions)
    assert "a gorgeous , witty , seductive movie ." in out  # printed from the fresh process
    # Rerun: every finished stage is skipped (the report is rewritten), no new export version.
    start = time.time()
    assert run_cli(*args) == 0
    assert time.time() - start < 30
    assert "done already" in capsys.readouterr().out
    assert sorted(os.listdir(os.path.join(saved, "quickstart_sst2"))) == ["1"]
    # Other settings in the same workdir are refused, not mixed.
    assert run_cli(*args[:-1], "2") == 2


def test_the_report_calls_a_difference_only_when_its_interval_leaves_out_zero():
    from bert_tf.quickstart.report import compare_accuracies
    assert " beats " in compare_accuracies(0.70, 0.65, 2000)          # +5.0, interval +-2.9
    assert " is behind " in compare_accuracies(0.60, 0.68, 2000)      # -8.0
    assert "cannot be told apart" in compare_accuracies(0.66, 0.65, 2000)
    assert "cannot be told apart" in compare_accuracies(0.70, 0.65, 200)  # +5.0, interval +-9.2
    sentence = compare_accuracies(0.70, 0.65, 2000)
    assert "+5.0 points (95% interval +2.1 to +7.9, 2000 sentences)" in sentence
