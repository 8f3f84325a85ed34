"""A pure-Python emulator of TensorFlow Serving's gRPC and REST APIs.

It loads SavedModels the way ``tensorflow_model_server`` does (a graph-mode session
load of the ``serve`` tag set), manages versions with TF Serving's file-system source
and availability-preserving policy, and answers the same requests with the same
responses, status codes and error messages. It is for learning and testing, not
production: run ``python -m tfserving_emulator --help``.
"""

# The TF Serving release whose behaviour this package reproduces.
TF_SERVING_VERSION = "2.21.0"
