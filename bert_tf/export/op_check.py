"""Will stock TF Serving run this SavedModel? Collect every op type it uses and compare with a release's ops.

TF Serving links core TensorFlow plus tensorflow-text's `ops_lib` at a pinned version: 2.12-2.19 bundle
tensorflow-text 2.12.1, which lacks the trimmer ops (`TFText>RoundRobinTrim`, `TFText>RoundRobinGenerateMasks`)
and `TFText>Utf8Binarize`; 2.20 bundles 2.20.0, the full set (see `../shared/design/serving.md`, from the
Serving and Text BUILD files). An op is "custom" when core TensorFlow's registry does not know it; it must then
be in the target's tensorflow-text set. Reading the graph needs no tensorflow-text import.
"""

from __future__ import annotations

import os

# Op types of tensorflow-text 2.12.1's ops_lib that BERT-style graphs use (names as they appear in graphs).
_TEXT_2_12 = frozenset({
    "CaseFoldUTF8", "NormalizeUTF8", "NormalizeUTF8WithOffsetsMap", "FindSourceOffsets", "RegexSplitWithOffsets",
    "WordpieceTokenizeWithOffsets", "FastBertNormalize", "FastWordpieceTokenizeWithOffsets",
    "TFText>FastWordpieceDetokenize", "TFText>WhitespaceTokenizeWithOffsetsV2", "UnicodeScriptTokenizeWithOffsets",
    "WhitespaceTokenizeWithOffsets", "SentencepieceOp", "SentencepieceTokenizeOp",
    "SentencepieceTokenizeWithOffsetsOp", "SentencepieceDetokenizeOp", "SentencepieceIdToStringOp",
    "SentencepieceStringToIdOp", "SentencepieceGetPieceSizeOp", "NgramsStringJoin", "ConstrainedSequence",
    "MaxSpanningTree", "SplitMergeTokenizeWithOffsets", "SplitMergeFromLogitsTokenizeWithOffsets",
    "StateBasedSentenceBreaker", "SentenceFragments", "SentenceFragmentsV2", "TokenizerFromLogits",
    "TFText>ByteSplitWithOffsets", "TFText>ByteSplitByOffsets", "TFText>FastSentencepieceTokenize",
    "TFText>FastSentencepieceDetokenize", "TFText>BoiseOffsetConverter", "TFText>RegexSplitWithOffsets",
})
_TEXT_2_20 = _TEXT_2_12 | {"TFText>RoundRobinTrim", "TFText>RoundRobinGenerateMasks", "TFText>Utf8Binarize",
                           "TFText>WhitespaceTokenizeWithOffsetsV2"}
SERVING_TARGETS = {"2.12": _TEXT_2_12, "2.20": _TEXT_2_20}


class ServingCompatibilityError(ValueError):
    """The SavedModel uses ops the chosen TF Serving release does not link."""


def saved_model_ops(path: str) -> set[str]:
    """Every op type in a SavedModel: its graphs' nodes and every function in their libraries."""
    from tensorflow.core.protobuf import saved_model_pb2
    pb = os.path.join(path, "saved_model.pb")
    if not os.path.isfile(pb):
        raise FileNotFoundError(f"{path} is not a SavedModel folder (no saved_model.pb)")
    saved = saved_model_pb2.SavedModel()
    with open(pb, "rb") as f:
        saved.ParseFromString(f.read())
    ops, function_names = set(), set()
    for meta in saved.meta_graphs:
        library = meta.graph_def.library
        function_names |= {fn.signature.name for fn in library.function}
        ops |= {node.op for node in meta.graph_def.node}
        for fn in library.function:
            ops |= {node.op for node in fn.node_def}
    return ops - function_names  # calls of library functions appear as nodes named after them


def custom_ops(path: str) -> set[str]:
    """The ops of the SavedModel at `path` that core TensorFlow does not register.

    Once tensorflow-text is imported its ops are registered too, so in such a process the question is asked
    of a fresh Python that imports TensorFlow alone.
    """
    import sys
    if "tensorflow_text" in sys.modules:
        import json
        import subprocess
        out = subprocess.run([sys.executable, "-m", "bert_tf.export.op_check", path], check=True,
                             capture_output=True, text=True,
                             env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}).stdout
        return set(json.loads(out.strip().splitlines()[-1]))
    from tensorflow.python.framework import op_def_registry
    return {op for op in saved_model_ops(path) if op_def_registry.get(op) is None}


def check_serving(path: str, target: str = "2.12") -> dict:
    """`{"target", "custom_ops", "missing"}`; raises `ServingCompatibilityError` naming the missing ops."""
    if target not in SERVING_TARGETS:
        raise ValueError(f"--serving-target must be one of {', '.join(SERVING_TARGETS)}, not {target!r}")
    custom = custom_ops(path)
    missing = sorted(custom - SERVING_TARGETS[target])
    report = {"target": target, "custom_ops": sorted(custom), "missing": missing}
    if missing:
        raise ServingCompatibilityError(
            f"{path}: TF Serving {target} does not link op(s) {', '.join(missing)} (its tensorflow-text is "
            f"{'2.12.1' if target == '2.12' else '2.20.0'}); re-export for another --serving-target or avoid them")
    return report


if __name__ == "__main__":  # the fresh-process half of `custom_ops`
    import json
    import sys
    print(json.dumps(sorted(custom_ops(sys.argv[1]))))
