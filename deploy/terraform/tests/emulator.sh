#!/usr/bin/env bash
# Applies what moto can emulate and runs Roster on it (called by run.sh):
#   - state_backend on moto with local state: the bootstrap every first
#     deployment does;
#   - queue + observability on moto, with their state in that
#     bucket (S3 backend, use_lockfile and dynamodb_table): both locks are
#     shown to stop a second run;
#   - SQS's own redrive after maxReceiveCount, then `roster serve` on the
#     queue and DLQ URLs from `terraform output`: a feed is applied (people
#     listed) and a poison message lands in the DLQ Terraform made;
#   - terraform destroy of the stack (the state bucket stays, as in an account).
# Needs ROSTER_TEST_SQS_ENDPOINT (moto), ROSTER_TEST_PYTHON (with boto3,
# moto's dependency), ROSTER_BIN, curl; TF_CLI_CONFIG_FILE and WORK from run.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "deploy/terraform emulator test: $*" >&2; exit 1; }
for v in ROSTER_TEST_SQS_ENDPOINT ROSTER_TEST_PYTHON ROSTER_BIN TF_CLI_CONFIG_FILE WORK; do
  [ -n "${!v:-}" ] || fail "$v is not set (scripts/test sets it)"
done
[ -x "$ROSTER_BIN" ] || fail "roster binary not found at $ROSTER_BIN"
SQS="$ROSTER_TEST_SQS_ENDPOINT"
RUN="emu$$"
E="$WORK/emulator"
mkdir -p "$E"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

# moto's S3 enforces bucket policies but ignores their conditions, so the
# state bucket's "deny without TLS" statement would deny everything: the
# test checks the policy is there, then lifts it (see the README).
STATE="$SQS"

py() { "$ROSTER_TEST_PYTHON" - "$@"; }

# jq-like: the value of a Python expression over the JSON file (as `j`).
jget() { "$ROSTER_TEST_PYTHON" -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

tf() { # tf DIR DATA COMMAND ARGS...
  local dir=$1 data=$2 cmd=$3; shift 3
  case $cmd in output) ;; *) set -- -input=false "$@" ;; esac
  TF_DATA_DIR="$E/$data" terraform -chdir="$dir" "$cmd" -no-color "$@"
}

BUCKET="roster-tfstate-$RUN"
BOOT=tests/emulator/bootstrap
STACK=tests/emulator/stack
echo "   bootstrap: state_backend on moto (local state)"
tf $BOOT boot init >"$E/init.log" 2>&1 || { cat "$E/init.log"; fail "bootstrap init failed"; }
tf $BOOT boot apply -auto-approve -state="$E/boot.tfstate" -var endpoint="$STATE" -var bucket_name="$BUCKET" >"$E/boot.log" 2>&1 \
  || { cat "$E/boot.log"; fail "bootstrap apply failed"; }
tf $BOOT boot output -state="$E/boot.tfstate" -json backend_config >"$E/boot.json"
KMS=$(jget "$E/boot.json" 'j["kms_key_id"]')
LOCKS="$BUCKET-locks"

py "$STATE" "$BUCKET" "$LOCKS" <<'PY'
import sys, json, boto3
url, bucket, table = sys.argv[1:]
kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
s3 = boto3.client("s3", **kw)
assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled", "state bucket not versioned"
pab = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
assert all(pab.values()), f"public access not blocked: {pab}"
enc = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
assert enc["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms", enc
policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
deny = [st for st in policy["Statement"] if st["Effect"] == "Deny"]
assert deny and deny[0]["Condition"]["Bool"]["aws:SecureTransport"] == "false", policy
s3.delete_bucket_policy(Bucket=bucket)  # moto would apply the Deny unconditionally
key = boto3.client("dynamodb", **kw).describe_table(TableName=table)["Table"]["KeySchema"]
assert key == [{"AttributeName": "LockID", "KeyType": "HASH"}], key
print("   state bucket: versioned, encrypted (KMS), public access blocked, TLS-only; lock table keyed by LockID")
PY

cat >"$E/backend.hcl" <<HCL
bucket                      = "$BUCKET"
key                         = "roster/emulator.tfstate"
region                      = "us-east-1"
encrypt                     = true
kms_key_id                  = "$KMS"
use_lockfile                = true
dynamodb_table              = "$LOCKS"
access_key                  = "testing"
secret_key                  = "testing"
skip_credentials_validation = true
skip_requesting_account_id  = true
skip_metadata_api_check     = true
skip_region_validation      = true
use_path_style              = true
endpoints = {
  s3       = "$STATE"
  dynamodb = "$STATE"
}
HCL

MRC=3
VARS=(-var endpoint="$SQS" -var name="roster-$RUN" -var max_receive_count=$MRC)
echo "   stack: queue + observability on moto, state in the bucket"
tf $STACK stack init -backend-config="$E/backend.hcl" >"$E/init.log" 2>&1 || { cat "$E/init.log"; fail "stack init (S3 backend) failed"; }
tf $STACK stack apply -auto-approve "${VARS[@]}" >"$E/stack.log" 2>&1 || { cat "$E/stack.log"; fail "stack apply failed"; }
tf $STACK stack output -json >"$E/outputs.json"

# Remote state, and both locks honoured: a lock held elsewhere (a .tflock
# object, a DynamoDB row) stops a second run.
py "$STATE" "$BUCKET" "$LOCKS" hold-s3 <<'PY'
import sys, json, boto3
url, bucket, table, what = sys.argv[1:]
kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
s3 = boto3.client("s3", **kw)
head = s3.head_object(Bucket=bucket, Key="roster/emulator.tfstate")
assert head.get("ServerSideEncryption") == "aws:kms", head
state = json.loads(s3.get_object(Bucket=bucket, Key="roster/emulator.tfstate")["Body"].read())
assert any(r["type"] == "aws_sqs_queue" for r in state["resources"]), "queues not in the remote state"
info = json.dumps({"ID": "held-by-test", "Operation": "OperationTypeApply", "Who": "emulator-test", "Version": "1.11.0", "Created": "2026-01-01T00:00:00Z", "Path": f"{bucket}/roster/emulator.tfstate"})
s3.put_object(Bucket=bucket, Key="roster/emulator.tfstate.tflock", Body=info.encode())
PY
if tf $STACK stack plan -lock-timeout=0s "${VARS[@]}" >"$E/locked.log" 2>&1; then
  fail "a plan ran while the S3 lock file was held"
fi
grep -q "Error acquiring the state lock" "$E/locked.log" || { cat "$E/locked.log"; fail "the plan failed, but not on the S3 lock"; }
py "$STATE" "$BUCKET" "$LOCKS" <<'PY'
import sys, json, boto3
url, bucket, table = sys.argv[1:]
kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
boto3.client("s3", **kw).delete_object(Bucket=bucket, Key="roster/emulator.tfstate.tflock")
info = json.dumps({"ID": "held-by-test", "Operation": "OperationTypeApply", "Who": "emulator-test", "Version": "1.11.0", "Created": "2026-01-01T00:00:00Z", "Path": f"{bucket}/roster/emulator.tfstate"})
boto3.client("dynamodb", **kw).put_item(TableName=table, Item={"LockID": {"S": f"{bucket}/roster/emulator.tfstate"}, "Info": {"S": info}})
PY
if tf $STACK stack plan -lock-timeout=0s "${VARS[@]}" >"$E/locked.log" 2>&1; then
  fail "a plan ran while the DynamoDB lock was held"
fi
grep -q "Error acquiring the state lock" "$E/locked.log" || { cat "$E/locked.log"; fail "the plan failed, but not on the DynamoDB lock"; }
py "$STATE" "$BUCKET" "$LOCKS" <<'PY'
import sys, boto3
url, bucket, table = sys.argv[1:]
kw = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
boto3.client("dynamodb", **kw).delete_item(TableName=table, Key={"LockID": {"S": f"{bucket}/roster/emulator.tfstate"}})
PY
echo "   remote state in S3 (SSE-KMS); a held S3 lock file and a held DynamoDB lock each stopped a second plan"

QUEUE_URL=$(jget "$E/outputs.json" 'j["queue_url"]["value"]')
DLQ_URL=$(jget "$E/outputs.json" 'j["dlq_url"]["value"]')

# What Terraform made, as SQS reports it; then SQS's own redrive: a message
# received maxReceiveCount times without a delete moves to the DLQ.
py "$SQS" "$QUEUE_URL" "$DLQ_URL" "$MRC" "$E/outputs.json" <<'PY'
import sys, json, time, boto3
url, queue, dlq, mrc, outputs = sys.argv[1:]
mrc = int(mrc)
sqs = boto3.client("sqs", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
attrs = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
dattrs = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["All"])["Attributes"]
redrive = json.loads(attrs["RedrivePolicy"])
assert attrs["FifoQueue"] == "true" and dattrs["FifoQueue"] == "true", "queues are not FIFO"
assert int(redrive["maxReceiveCount"]) == mrc and redrive["deadLetterTargetArn"] == dattrs["QueueArn"], redrive
assert dattrs["MessageRetentionPeriod"] == "1209600", dattrs["MessageRetentionPeriod"]
assert int(attrs["VisibilityTimeout"]) >= 6 * 5, attrs["VisibilityTimeout"]
env = json.load(open(outputs))["roster_environment"]["value"]
assert env["ROSTER_MAX_RECEIVE_COUNT"] == str(mrc), env
alarms = json.load(open(outputs))["alarm_names"]["value"]
cw = boto3.client("cloudwatch", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
got = {a["AlarmName"]: a for a in cw.describe_alarms(AlarmNames=alarms)["MetricAlarms"]}
assert set(got) == set(alarms), (sorted(got), alarms)
dlq_alarm = next(a for a in got.values() if a["MetricName"] == "ApproximateNumberOfMessagesVisible")
assert dlq_alarm["Dimensions"] == [{"Name": "QueueName", "Value": dlq.rsplit("/", 1)[1]}], dlq_alarm["Dimensions"]
topic = json.load(open(outputs))["alarm_topic_arn"]["value"]
assert dlq_alarm["AlarmActions"] == [topic], dlq_alarm["AlarmActions"]

sqs.send_message(QueueUrl=queue, MessageBody="never deleted", MessageGroupId="redrive-test", MessageDeduplicationId="redrive-test")
for i in range(mrc):
    got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1, VisibilityTimeout=0, WaitTimeSeconds=1).get("Messages", [])
    assert len(got) == 1, f"receive {i + 1}: {got}"
assert sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1, WaitTimeSeconds=1).get("Messages", []) == []
n = int(sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"])
assert n == 1, f"after {mrc} receives the DLQ holds {n} messages, not 1"
print(f"   SQS: FIFO queues, maxReceiveCount {mrc} = ROSTER_MAX_RECEIVE_COUNT, 14-day DLQ; {len(alarms)} alarms on the topic; redrive after {mrc} receives reached the DLQ")
PY

# --- Roster on what Terraform made -------------------------------------
DATA="$E/roster-data"
KEY=$("$ROSTER_BIN" tenants create acme --init --data-dir "$DATA" 2>"$E/tenants.log" | tail -n 1) || { cat "$E/tenants.log"; fail "roster tenants create failed"; }
PORT=$(free_port)
env $(jget "$E/outputs.json" '" ".join(f"{k}={v}" for k, v in j["roster_environment"]["value"].items())') ROSTER_SQS_ENDPOINT_URL="$SQS" AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
  "$ROSTER_BIN" serve --data-dir "$DATA" --listen "127.0.0.1:$PORT" >"$E/roster.log" 2>&1 &
pids+=($!)
R="http://127.0.0.1:$PORT"
for _ in $(seq 1 100); do curl -sf "$R/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "$R/healthz" >/dev/null || { cat "$E/roster.log"; fail "roster serve did not start on the Terraform-made queues"; }

curl -sf -o "$E/feed.json" "$R/integrations/hr-feed" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' -d '{"mode": "delta", "records": [
  {"externalId": "T1", "userName": "t1@example.com", "name": {"givenName": "Tess", "familyName": "One"}, "department": "Ops"},
  {"externalId": "T2", "userName": "t2@example.com", "name": {"givenName": "Theo", "familyName": "Two"}, "department": "Ops", "manager": "T1"}]}' \
  || { cat "$E/roster.log"; fail "ingest did not accept the feed"; }
FEED_ID=$(jget "$E/feed.json" 'j["feedId"]')
status=""
for _ in $(seq 1 150); do
  status=$(curl -sf -o "$E/status.json" "$R/v1/feeds/$FEED_ID" -H "Authorization: Bearer $KEY" && jget "$E/status.json" 'j["status"]') || true
  [ "$status" = completed ] && break
  sleep 0.2
done
[ "$status" = completed ] || { cat "$E/roster.log"; fail "feed $FEED_ID is '$status', not completed"; }
curl -sf -o "$E/people.json" "$R/v1/people" -H "Authorization: Bearer $KEY" || fail "GET /v1/people failed"
py "$E/people.json" <<'PY'
import json, sys
body = json.load(open(sys.argv[1]))
people = body if isinstance(body, list) else body.get("people", body.get("Resources", body.get("items", [])))
ids = sorted(p["externalId"] for p in people)
assert ids == ["T1", "T2"], f"people listed: {ids}"
print("   roster serve on the Terraform-made queue: feed completed, people T1 and T2 listed")
PY

# A message Roster can never apply: its consumer moves it to the DLQ.
py "$SQS" "$QUEUE_URL" "$DLQ_URL" <<'PY'
import sys, time, boto3
url, queue, dlq = sys.argv[1:]
sqs = boto3.client("sqs", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
sqs.send_message(QueueUrl=queue, MessageBody="{not a change", MessageGroupId="poison", MessageDeduplicationId="poison")
count = lambda q, a: int(sqs.get_queue_attributes(QueueUrl=q, AttributeNames=[a])["Attributes"][a])
for _ in range(150):
    if count(dlq, "ApproximateNumberOfMessages") + count(dlq, "ApproximateNumberOfMessagesNotVisible") == 2 and count(queue, "ApproximateNumberOfMessages") == 0:
        break
    time.sleep(0.2)
else:
    raise SystemExit(f"poison message not dead-lettered: DLQ {count(dlq, 'ApproximateNumberOfMessages')}, queue {count(queue, 'ApproximateNumberOfMessages')}")
print("   a poison message sent to the queue was moved to the Terraform-made DLQ by Roster")
PY
kill "${pids[-1]}" 2>/dev/null || true; wait "${pids[-1]}" 2>/dev/null || true

echo "   destroy"
tf $STACK stack destroy -auto-approve "${VARS[@]}" >"$E/destroy.log" 2>&1 || { cat "$E/destroy.log"; fail "stack destroy failed"; }
# The state bucket stays, holding the destroyed stack's state, as it would
# in an account (moto is thrown away with it).
echo "emulator: state_backend, queue and observability applied; Roster ran on them; the stack destroyed"
