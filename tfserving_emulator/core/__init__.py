"""Which models and versions serve: TF Serving's ``tensorflow_serving/core`` in small.

Version policies and the server core (``server_core``), the model config
(``model_config``), loading a version into a servable (``loader``, ``servable``),
warm-up replay (``warmup``), the turns inference takes (``turns``) and batching
(``batching_config``, ``batch_scheduler``, ``batching``).
"""
