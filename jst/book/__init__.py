"""What the notebooks import (a run folder opened by its parameters, the analyses behind each chapter, the
threshold explorer) and how the book is built and checked (``python -m jst.book``)."""
