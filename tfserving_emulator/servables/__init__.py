"""What a loaded version is and how it runs: ``tensorflow_serving/servables/tensorflow``.

The SavedModel session loader (``saved_model``), TensorFlow Lite (``tflite_model``),
custom-op checks (``custom_ops``) and the inference heads Predict, Classify, Regress
and MultiInference (``inference``).
"""
