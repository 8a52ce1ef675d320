"""What the provider keeps in, and tells, Airflow: the durable record of a gateway task
(``durable``), the run's spend (``spend``, ``run_states``), XComs and the extra link, asset
events, OpenLineage, metrics, the deferral floor, and what happens when a video is complete
(``completion``). Used by the operator, the sensor and the hook; never imports them."""
