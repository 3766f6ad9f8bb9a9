"""The log tables lose SQLite's AUTOINCREMENT and the JSON_VALID checks (see models.LogJSONField).

On SQLite each AlterField remakes its table from the current field classes, so the body and
object columns of StoredObject and WatchEvent (StoredJSONField, now without the check) lose
theirs in the same remake. On PostgreSQL every operation is a no-op.
"""

import cluster.models
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("cluster", "0005_drop_cluster_only_indexes"),
    ]

    operations = [
        migrations.AlterField(
            model_name="storedobject",
            name="id",
            field=cluster.models.LogAutoField(primary_key=True, serialize=False),
        ),
        migrations.AlterField(
            model_name="tracestep",
            name="id",
            field=cluster.models.LogAutoField(primary_key=True, serialize=False),
        ),
        migrations.AlterField(
            model_name="tracestep",
            name="involved",
            field=cluster.models.LogJSONField(default=list),
        ),
        migrations.AlterField(
            model_name="tracestep",
            name="params",
            field=cluster.models.LogJSONField(default=dict),
        ),
        migrations.AlterField(
            model_name="watchevent",
            name="id",
            field=cluster.models.LogAutoField(primary_key=True, serialize=False),
        ),
    ]
