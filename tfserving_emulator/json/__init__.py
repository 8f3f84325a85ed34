"""TF Serving's JSON API (``tensorflow_serving/util/json_tensor.cc``) and the RapidJSON it is built on.

Requests: ``predict_request`` (``:predict`` bodies; the one place that picks the fast
path or the exact reader), ``example_request`` (``:classify`` / ``:regress``),
``tensor_values`` (value checks and conversions) and ``fast_arrays`` (the same in one
numpy call where provably equal). Answers: ``response`` and ``number_text``.
RapidJSON: ``rapidjson_reader`` (the entry points and the exact parser),
``rapidjson_fast`` (its fast path), ``rapidjson_numbers``, ``rapidjson_document`` and
``rapidjson_writer``. ``flat_instances`` reads the tutorial's plain row bodies whole.
"""
