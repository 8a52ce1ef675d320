"""The provider's views in the Airflow UI (Airflow 3.1+): a task's video, and a run's gallery.

Nothing here is imported at DAG-parse time or on a worker: the plugin class is light, and the
FastAPI app (with FastAPI, the database reads and the templates) is built only when the API
server asks the plugin for it.
"""
