"""The chapter's get_variable / load_variables example with ``import flowsnap as flow``: a
variable initialized from a normal distribution, then set to ones by ``load_variables``."""

import numpy as np

import flowsnap as flow
import flowsnap.typing as tp


@flow.global_function(type="predict")
def job() -> tp.Numpy:
    myblob = flow.get_variable(
        "myblob",
        shape=(3, 3),
        initializer=flow.random_normal_initializer(),
    )
    return myblob


if __name__ == "__main__":
    print(flow.get_all_variables()["myblob"].numpy())  # random normal values
    myvardict = {"myblob": np.ones((3, 3)).astype(np.float32)}
    flow.load_variables(myvardict)
    print(flow.get_all_variables()["myblob"].numpy())  # the ones matrix
