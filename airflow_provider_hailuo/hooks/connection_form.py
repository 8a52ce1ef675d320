"""The connection form's extra fields for Airflow < 3.2, whose form is Flask's (3.2+ reads the
same fields from the provider info). Imported only when that form is built: Flask is not needed
anywhere else."""

from __future__ import annotations

from typing import Any

from airflow_provider_hailuo.gateway.cost import EXTRA_PRICE_TABLE
from airflow_provider_hailuo.gateway.defaults import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_CREATE_PATH,
    DEFAULT_RETRY_DELAY,
    DEFAULT_RETRY_LIMIT,
    DEFAULT_TASK_PATH,
    DEFAULT_TIMEOUT,
)
from airflow_provider_hailuo.hooks.settings import (
    EXTRA_CONNECT_TIMEOUT,
    EXTRA_CREATE_PATH,
    EXTRA_MAX_POLLS_PER_SECOND,
    EXTRA_RETRY_DELAY,
    EXTRA_RETRY_LIMIT,
    EXTRA_TASK_PATH,
    EXTRA_TIMEOUT,
)
from airflow_provider_hailuo.media.storage import EXTRA_ALLOWED_FRAME_ROOTS


def legacy_form_widgets() -> dict[str, Any]:
    from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import IntegerField, StringField
    from wtforms.validators import NumberRange, Optional

    return {
        EXTRA_TIMEOUT: IntegerField(
            lazy_gettext("Request timeout (s)"),
            validators=[Optional(), NumberRange(min=1)],
            widget=BS3TextFieldWidget(),
            default=int(DEFAULT_TIMEOUT),
        ),
        EXTRA_CONNECT_TIMEOUT: IntegerField(
            lazy_gettext("Connect timeout (s)"),
            validators=[Optional(), NumberRange(min=1)],
            widget=BS3TextFieldWidget(),
            default=int(DEFAULT_CONNECT_TIMEOUT),
        ),
        EXTRA_RETRY_LIMIT: IntegerField(
            lazy_gettext("Attempts per call"),
            validators=[Optional(), NumberRange(min=1)],
            widget=BS3TextFieldWidget(),
            default=DEFAULT_RETRY_LIMIT,
        ),
        # A text field: Airflow's legacy form takes no float fields; the hook parses the number.
        EXTRA_RETRY_DELAY: StringField(
            lazy_gettext("First retry delay (s)"),
            widget=BS3TextFieldWidget(),
            default=str(DEFAULT_RETRY_DELAY),
        ),
        EXTRA_MAX_POLLS_PER_SECOND: StringField(
            lazy_gettext("Max polls a second"), widget=BS3TextFieldWidget()
        ),
        EXTRA_CREATE_PATH: StringField(
            lazy_gettext("Create path"), widget=BS3TextFieldWidget(), default=DEFAULT_CREATE_PATH
        ),
        EXTRA_TASK_PATH: StringField(
            lazy_gettext("Task path"), widget=BS3TextFieldWidget(), default=DEFAULT_TASK_PATH
        ),
        EXTRA_ALLOWED_FRAME_ROOTS: StringField(
            lazy_gettext("Allowed frame roots"), widget=BS3TextFieldWidget()
        ),
        EXTRA_PRICE_TABLE: StringField(lazy_gettext("Price table (USD)"), widget=BS3TextFieldWidget()),
    }
