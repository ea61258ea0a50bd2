"""superconv: the code behind the super-convergence reproduction book.

Modules (one idea each): ``data`` (datasets as on-device tensors), ``models`` (CIFAR ResNets,
LeNet-5), ``train`` (the training loop), ``schedules`` (CLR / 1cycle / step schedules),
``range_test`` (the LR range test), ``hessian`` (the Hessian-free LR estimate).
"""

__version__ = "0.1.0"
