"""nbgrader's ``Execute`` preprocessor, for kernels that die and outputs that flood.

``course grade`` puts ``SandboxedExecute`` in place of ``nbgrader.preprocessors.Execute``
(``Autograde.autograde_preprocessors``, see ``autograder.nbgrader_config``):

- A kernel that dies (``os._exit``, a crash, the memory limit) or stops answering (a cell
  that ignores the interrupt at the time limit) no longer fails the whole notebook: the
  cell where it happened gets an error output saying so, every later code cell gets a
  "not run" error (so its test cell scores 0 in nbgrader's usual way), and the test cells
  that passed before it keep their points. What happened is recorded in
  ``resources["course_stopped"]`` and in the notebook's metadata
  (``course_grader.stopped``), where the worker reads it.
- Outputs are capped as they arrive, in bytes per cell (``max_cell_bytes``): one huge
  print never reaches the graded notebook, the gradebook or the feedback.
"""

from __future__ import annotations

import json

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Integer

from course import markup

TRUNCATED = "\n... [output truncated by the grader: over {limit} bytes in this cell]\n"


def _size(out: NotebookNode) -> int:
    return len(json.dumps(out, ensure_ascii=False).encode("utf-8", "replace"))


def _error(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue,
                        traceback=[f"{ename}: {evalue}"])


class SandboxedExecute(Execute):
    max_cell_bytes = Integer(256 * 1024, help="most output bytes kept per cell").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        self._stopped: dict | None = None
        self._cell_bytes: dict[int, int] = {}
        nb, resources = super().preprocess(nb, resources, km)
        if self._stopped:
            nb.metadata.setdefault("course_grader", {})["stopped"] = self._stopped
            resources["course_stopped"] = self._stopped
        return nb, resources

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if self._stopped is not None:
            cell.outputs = [_error("NotRun", f"not run: {self._stopped['reason']} "
                                   f"in cell {self._stopped['cell'] + 1}")]
            return cell, resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            reason = "the kernel died"
            detail = "(os._exit, a crash, or a resource limit)"
        except CellTimeoutError:
            reason = "the kernel stopped responding"
            detail = "(it ran past the time limit and ignored the interrupt)"
        self._stopped = {"cell": index, "grade_id": markup.grade_id(cell), "reason": reason}
        cell.outputs = list(cell.get("outputs", [])) + [
            _error("KernelDied" if "died" in reason else "KernelUnresponsive",
                   f"{reason} while running this cell {detail}")]
        self.log.error("%s in cell %d; later cells not run", reason, index + 1)
        try:  # the kernel is gone or stuck: stop it now, not at the end
            if self.km is not None:
                self.km.shutdown_kernel(now=True)
        except Exception as e:  # noqa: BLE001 - best effort; the sandbox's PID namespace ends it anyway
            self.log.warning("could not shut the kernel down: %s", e)
        return cell, resources

    def output(self, outs, msg, display_id, cell_index):
        used = self._cell_bytes.get(cell_index, 0)
        limit = self.max_cell_bytes
        if used > limit and msg.get("msg_type") != "error":  # truncated: drop the rest
            return None  # (never an error: it is what makes a test cell fail)
        before = len(outs)
        out = super().output(outs, msg, display_id, cell_index)
        if out is None or len(outs) == before:
            return out
        size = _size(out)
        if used + size <= limit:
            self._cell_bytes[cell_index] = used + size
            return out
        room = max(0, limit - used)
        note = TRUNCATED.format(limit=limit)
        if out.get("output_type") == "stream":
            out["text"] = str(out.get("text", ""))[: room // 4] + note
        elif out.get("output_type") == "error":
            out["traceback"] = [t[:2000] for t in out.get("traceback", [])][-20:]
            out["evalue"] = str(out.get("evalue", ""))[:2000]
        else:
            outs[-1] = out = NotebookNode(output_type="stream", name="stderr", text=note)
        self._cell_bytes[cell_index] = limit + 1
        return out
