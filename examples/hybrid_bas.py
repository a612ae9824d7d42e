"""A hybrid quantum-classical generative model: a Born machine over 4 latent qubits and a
conditional RealNVP, trained by exact maximum likelihood on noisy 2x2 bars-and-stripes images.

    python examples/hybrid_bas.py              # 800 steps, about a minute on one core
    python examples/hybrid_bas.py --quick      # a few steps (a smoke test)

Prints the test NLL against the exact entropy of the data, the posterior p(z | x) of a test image,
and images drawn given one latent state.
"""

from __future__ import annotations

import argparse
import time

import torch

from qdiff.apps.hybrid import HybridBornFlow, NoisyBAS, conditional_realnvp, split
from qdiff.apps.hybrid.train import NLLTrainer, mean_nll
from qdiff.apps.qcbm import BornMachine, born_circuit, chow_liu_tree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--quick", action="store_true", help="10 steps on 256 images")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)  # small models: one thread is fastest
    torch.manual_seed(args.seed)
    steps, train = (10, 256) if args.quick else (args.steps, 5000)

    data = NoisyBAS(2, 2)  # z uniform over the 6 valid 2x2 images; x = sigmoid(s (1.5 + eta) + 0.35 eps)
    x_train, x_test = split(data, train, 1000, seed=args.seed)
    prior = BornMachine(born_circuit(4, 4, chow_liu_tree(data.latent)), seed=args.seed)  # 52 angles
    model = HybridBornFlow(prior, conditional_realnvp(4, 4, hidden=16, layers=4, unit_box=True, seed=args.seed))
    trainer = NLLTrainer(model, x_train, batch=256, lr=5e-3, circuit_lr=0.05, lr_decay=0.999)
    start = time.perf_counter()
    for _ in range(steps):
        trainer.step()  # -mean log p(x): adjoint VJP into the circuit, backprop into the flow, one backward
    print(f"{steps} steps in {time.perf_counter() - start:.1f} s")
    print(f"test NLL = {mean_nll(model, x_test):.4f} nats/image   exact entropy of the data = "
          f"{-float(data.log_prob(x_test).mean()):.4f}")

    with torch.no_grad():
        post = model.posterior(x_test[:1])[0]
        top = post.argmax()
        print(f"image {[round(v, 2) for v in x_test[0].tolist()]}: most probable latent state z = {int(top)} "
              f"(p(z|x) = {float(post[top]):.3f})")
        print("three images drawn given that z:", [[round(v, 2) for v in row] for row in
                                                  model.sample_given(top.repeat(3), seed=1).tolist()])


if __name__ == "__main__":
    main()
