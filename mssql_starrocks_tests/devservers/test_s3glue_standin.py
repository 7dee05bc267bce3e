"""The S3 + Glue stand-in against boto3: Glue's VersionId check, and the fault front answering
with AWS's own error shapes (what botocore parses), holding a request, and passing the rest on."""

from __future__ import annotations

import threading
import time

import boto3
import botocore.config
import botocore.exceptions
import pytest
import requests


def client(devservers, service: str):
    return boto3.client(service, endpoint_url=devservers["AWS_ENDPOINT_URL"], region_name=devservers["AWS_REGION"],
                        aws_access_key_id=devservers["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=devservers["AWS_SECRET_ACCESS_KEY"],
                        config=botocore.config.Config(retries={"total_max_attempts": 1}))  # see every error


@pytest.fixture
def front(devservers):
    url = devservers["AWS_ENDPOINT_URL"] + "/_devservers/"
    yield url
    requests.post(url + "fault", json={"kind": "clear"}, timeout=10)


def error_of(call) -> tuple[int, str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as err:
        call()
    response = err.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response["Error"]["Message"]


def test_glue_update_table_with_a_stale_version_id_is_a_concurrent_modification(devservers):
    glue = client(devservers, "glue")
    glue.create_database(DatabaseInput={"Name": "probe_versions"})
    glue.create_table(DatabaseName="probe_versions", TableInput={"Name": "t", "Parameters": {"metadata_location": "a"}})
    seen = glue.get_table(DatabaseName="probe_versions", Name="t")["Table"]["VersionId"]
    glue.update_table(DatabaseName="probe_versions", TableInput={"Name": "t", "Parameters": {"metadata_location": "b"}},
                      VersionId=seen)
    assert error_of(lambda: glue.update_table(
        DatabaseName="probe_versions", TableInput={"Name": "t", "Parameters": {"metadata_location": "c"}},
        VersionId=seen)) == (400, "ConcurrentModificationException", "Update table failed due to concurrent modifications.")
    table = glue.get_table(DatabaseName="probe_versions", Name="t")["Table"]
    assert table["Parameters"]["metadata_location"] == "b"  # the second writer's stale update was not applied
    glue.update_table(DatabaseName="probe_versions", TableInput={"Name": "t", "Parameters": {"metadata_location": "c"}},
                      VersionId=table["VersionId"])  # retried on the current version, it is
    assert glue.get_table(DatabaseName="probe_versions", Name="t")["Table"]["Parameters"]["metadata_location"] == "c"


def test_the_fault_front_answers_with_aws_error_shapes_then_passes_requests_on(devservers, front):
    s3, glue = client(devservers, "s3"), client(devservers, "glue")
    glue.create_database(DatabaseInput={"Name": "probe_faults"})
    glue.create_table(DatabaseName="probe_faults", TableInput={"Name": "t"})
    for spec in ({"service": "s3", "operation": "PutObject", "key_contains": "probe/", "error": "SlowDown", "times": 1},
                 {"service": "s3", "operation": "GetObject", "key_contains": "probe/", "error": "AccessDenied",
                  "times": 1},
                 {"service": "glue", "operation": "GetTable", "table": "t", "error": "InternalServiceException",
                  "times": 1}):
        assert requests.post(front + "fault", json=spec, timeout=10).json()["status"] == "OK"
    put = lambda: s3.put_object(Bucket="warehouse", Key="probe/a", Body=b"one")  # noqa: E731
    assert error_of(put) == (503, "SlowDown", "Please reduce your request rate.")
    put()  # times=1: the next one goes through
    assert error_of(lambda: s3.get_object(Bucket="warehouse", Key="probe/a")) == (403, "AccessDenied", "Access Denied")
    assert s3.get_object(Bucket="warehouse", Key="probe/a")["Body"].read() == b"one"
    s3.put_object(Bucket="warehouse", Key="other/b", Body=b"two")  # not matched: never affected
    get_table = lambda: glue.get_table(DatabaseName="probe_faults", Name="t")  # noqa: E731
    assert error_of(get_table) == (500, "InternalServiceException", "Internal service error.")
    assert get_table()["Table"]["Name"] == "t"
    log = requests.get(front + "faults", timeout=10).json()["log"]
    assert [(f["service"], f["operation"], f["error"]) for f in log] == [
        ("s3", "PutObject", "SlowDown"), ("s3", "GetObject", "AccessDenied"),
        ("glue", "GetTable", "InternalServiceException")]
    bad = requests.post(front + "fault", json={"service": "s3", "error": "NoSuchThing"}, timeout=10)
    assert bad.status_code == 400 and "SlowDown" in bad.json()["msg"]


def test_a_held_request_waits_for_release_and_then_goes_through(devservers, front):
    s3 = client(devservers, "s3")
    assert requests.post(front + "fault", json={"service": "s3", "kind": "hold", "operation": "PutObject",
                                                "key_contains": "held/", "times": 1}, timeout=10).json()["status"] == "OK"
    done = threading.Event()
    worker = threading.Thread(target=lambda: (s3.put_object(Bucket="warehouse", Key="held/x", Body=b"x"), done.set()))
    worker.start()
    deadline = time.monotonic() + 30
    while not requests.get(front + "faults", timeout=10).json()["held"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.5)
    assert not done.is_set()
    with pytest.raises(botocore.exceptions.ClientError):
        s3.head_object(Bucket="warehouse", Key="held/x")  # not written while held
    requests.post(front + "release", timeout=10)
    worker.join(timeout=30)
    assert done.is_set()
    assert s3.get_object(Bucket="warehouse", Key="held/x")["Body"].read() == b"x"


def test_a_chunked_multipart_upload_through_the_journal_keeps_its_bytes(devservers):
    """pyarrow's S3 filesystem (as pyiceberg writes metadata) sends an aws-chunked part with
    HTTP chunked transfer encoding; the journal in front of moto must pass its body on whole."""
    import pyarrow.fs as pafs

    endpoint = devservers["AWS_ENDPOINT_URL"]
    fs = pafs.S3FileSystem(endpoint_override=endpoint, access_key=devservers["AWS_ACCESS_KEY_ID"],
                           secret_key=devservers["AWS_SECRET_ACCESS_KEY"], region=devservers["AWS_REGION"],
                           scheme="http")
    payload = b'{"format-version": 2}' * 50
    with fs.open_output_stream("warehouse/probe_journal/chunked.json") as out:
        out.write(payload)
    body = client(devservers, "s3").get_object(Bucket="warehouse", Key="probe_journal/chunked.json")["Body"].read()
    assert body == payload
