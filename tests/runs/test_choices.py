from gradlogpi.runs.choices import did_you_mean, listed, one_of


def test_listed_in_words():
    assert listed([]) == ""
    assert listed(["raw"]) == "'raw'"
    assert listed(["raw", "rbf", "tiles"]) == "'raw', 'rbf' or 'tiles'"
    assert listed(["raw", "rbf"], quote=False) == "raw or rbf"


def test_did_you_mean_only_for_a_close_name():
    names = ["linear_softmax", "matrix_softmax", "neural_softmax"]
    assert did_you_mean("nueral_softmax", names) == "; did you mean 'neural_softmax'?"
    assert did_you_mean("tabular", names) == ""
    assert did_you_mean(3, names) == ""


def test_one_of():
    assert one_of("fourer", ["raw", "fourier"]) == (
        "expected one of 'raw' or 'fourier'; did you mean 'fourier'?"
    )
