"""IMS asynchronous jobs (ims-api.md §6): each runs its real work on a background thread and
goes INIT -> RUNNING -> SUCCESS | FAIL over about `duration` seconds (per job type if set).
Admin settings can force the next N jobs to FAIL with a chosen code."""

import datetime
import logging
import threading
import time
import uuid

from .errors import MESSAGES, ImsError

log = logging.getLogger("emulator.jobs")
INIT_SHARE = 0.1      # part of the duration a job stays INIT


def utc(t):
    """IMS job time: UTC with milliseconds, e.g. 2024-11-06T06:19:43.195Z."""
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc) \
        .strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class JobFailure(Exception):
    """Ends a job with FAIL, `code` (IMG.nnnn) and `reason`."""

    def __init__(self, code, reason=None):
        self.code = code
        self.reason = reason or MESSAGES.get(code, "The job failed.")
        super().__init__("%s %s" % (code, self.reason))


class Job:
    def __init__(self, engine, project_id, job_type, entities, duration, labels):
        self.engine = engine
        self.labels = labels
        self.id = uuid.uuid4().hex
        self.project_id = project_id
        self.job_type = job_type
        self.status = "INIT"
        self.begin = time.time()
        self.end = None
        self.duration = duration
        self.entities = dict(entities)
        self.error_code = None
        self.fail_reason = None
        self.fraction = 0.0        # share of the real work done, reported by the work

    # The work calls these (from its thread); the engine lock guards every field.
    def progress(self, done, total):
        with self.engine.lock:
            self.fraction = done / total if total else 1.0

    def set_entity(self, key, value):
        with self.engine.lock:
            self.entities[key] = value

    def view(self, now):
        """The job object of GET /v1/{project_id}/jobs/{job_id}; call under the engine lock."""
        entities = dict(self.entities)
        if self.status == "SUCCESS":
            percent = 100.0
        else:
            # the slower of the real work and the configured duration, never 100 before the end
            elapsed = (now if self.end is None else self.end) - self.begin
            timed = elapsed / self.duration if self.duration > 0 else 1.0
            percent = min(99.0, 100.0 * min(self.fraction, timed))
        entities["process_percent"] = round(percent, 1)
        return {"job_id": self.id, "job_type": self.job_type, "status": self.status,
                "begin_time": utc(self.begin), "end_time": utc(self.end) if self.end else None,
                "error_code": self.error_code, "fail_reason": self.fail_reason,
                "entities": entities}


class Jobs:
    def __init__(self, duration):
        self.lock = threading.Lock()
        self._jobs = {}
        self._stop = threading.Event()
        self.duration = float(duration)
        self.durations = {}        # job_type -> seconds
        self.fail_next = 0
        self.fail_code = "IMG.0057"
        self.fail_reason = None
        self.max_running = 0       # IMS flow control: unfinished jobs per project (0: no limit)

    def configure(self, settings):
        """Admin settings: duration, durations {job_type: s}, fail_next, fail_code, fail_reason,
        max_running (IMS flow control: a project's unfinished jobs; 0 = no limit)."""
        with self.lock:
            if "duration" in settings:
                self.duration = _seconds(settings["duration"], "duration")
            for job_type, seconds in (settings.get("durations") or {}).items():
                self.durations[job_type] = _seconds(seconds, "durations." + job_type)
            if "fail_next" in settings:
                n = settings["fail_next"]
                if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                    raise ValueError("fail_next must be an integer >= 0")
                self.fail_next = n
            if "fail_code" in settings:
                self.fail_code = str(settings["fail_code"])
            if "fail_reason" in settings:
                self.fail_reason = settings["fail_reason"]
            if "max_running" in settings:
                n = settings["max_running"]
                if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                    raise ValueError("max_running must be an integer >= 0")
                self.max_running = n
            return self.settings_locked()

    def settings_locked(self):
        return {"duration": self.duration, "durations": dict(self.durations),
                "fail_next": self.fail_next, "fail_code": self.fail_code,
                "fail_reason": self.fail_reason, "max_running": self.max_running}

    def settings(self):
        with self.lock:
            return self.settings_locked()

    def start(self, project_id, job_type, entities, work, **labels):
        """Starts `work(job)` on a thread; returns the job id at once. `labels` (e.g. image_id,
        action) let find() spot jobs in progress on the same thing."""
        with self.lock:
            if self.max_running and sum(1 for j in self._jobs.values() if j.project_id == project_id
                                        and j.status in ("INIT", "RUNNING")) >= self.max_running:
                raise ImsError("IMG.0060")   # refused, not started: the client may try again
            job = Job(self, project_id, job_type, entities,
                      self.durations.get(job_type, self.duration), labels)
            self._jobs[job.id] = job
            forced = None
            if self.fail_next > 0:
                self.fail_next -= 1
                forced = JobFailure(self.fail_code, self.fail_reason)
        threading.Thread(target=self._run, args=(job, work, forced), daemon=True,
                         name="job-" + job.id[:8]).start()
        return job.id

    def get(self, job_id, project_id):
        with self.lock:
            job = self._jobs.get(job_id)
            if job is None or job.project_id != project_id:
                return None
            return job.view(time.time())

    def find(self, **labels):
        """Whether a job that is not finished carries all these labels."""
        with self.lock:
            return any(j.status in ("INIT", "RUNNING") and
                       all(j.labels.get(k) == v for k, v in labels.items())
                       for j in self._jobs.values())

    def count(self, project_id, **labels):
        """How many of the project's unfinished jobs carry all these labels."""
        with self.lock:
            return sum(1 for j in self._jobs.values() if j.project_id == project_id
                       and j.status in ("INIT", "RUNNING")
                       and all(j.labels.get(k) == v for k, v in labels.items()))

    def pending(self, project_id, label):
        """The sum of a numeric label over the project's unfinished jobs (e.g. the images
        they will make)."""
        with self.lock:
            return sum(j.labels.get(label, 0) for j in self._jobs.values()
                       if j.project_id == project_id and j.status in ("INIT", "RUNNING"))

    def all(self):
        with self.lock:
            now = time.time()
            return [j.view(now) for j in self._jobs.values()]

    def stop(self):
        self._stop.set()

    def _run(self, job, work, forced):
        def wait_until(t):
            return not self._stop.wait(max(0.0, t - time.time()))

        if not wait_until(job.begin + INIT_SHARE * job.duration):
            return
        with self.lock:
            job.status = "RUNNING"
        try:
            if forced is not None:
                raise forced
            work(job)
            status, code, reason = "SUCCESS", None, None
        except JobFailure as e:
            status, code, reason = "FAIL", e.code, e.reason
        except Exception as e:   # a bug or an unreachable Glance: the job fails, the server lives
            log.exception("job %s (%s) crashed", job.id, job.job_type)
            status, code, reason = "FAIL", "IMG.0014", "%s: %s" % (MESSAGES["IMG.0014"], e)
        # failures too take the whole duration, so pollers see RUNNING whatever the outcome
        if not wait_until(job.begin + job.duration):
            return
        with self.lock:
            job.status, job.error_code, job.fail_reason = status, code, reason
            job.end = time.time()
        log.info("job %s %s %s %s", job.id, job.job_type, status, code or "")


def _seconds(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError("%s must be a number of seconds >= 0" % name)
    return float(value)
