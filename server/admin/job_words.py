"""Say a harvest job's one-line message (harvesters/runner.py, jobs.py, links.py, service.py) in Chinese.

The message is written in English by the harvesters, from a few fixed sentences with figures in them; this
table gives each sentence in Chinese, figures carried as they are. The text an error itself carries (an
exception's message, a source's answer) is a value from elsewhere: it is quoted as it came, after
原始信息, never rewritten. A sentence the table does not know is shown as it is, never dropped.
"""

from __future__ import annotations

import re

# "<number> <words>" items of the counts' lists: the words in Chinese
COUNTED = {"records read": "读取记录", "mapped": "映射", "new": "新增", "updated": "更新", "unchanged": "未变",
           "held": "拦截", "withdrawn": "撤回", "failed": "失败", "superseded": "被取代",
           "unplaced fields": "未归位字段", "unknown values": "未知取值", "key collisions": "标识冲突",
           "duplicates": "重复记录", "conditional hits (304)": "条件请求命中（304）", "re-read": "重新读取",
           "changed files": "文件有变化", "broken": "失效"}
WHY = [(re.compile(r"^the machine restarted$"), "机器重启"),
       (re.compile(r"^its process (\d+) ended$"), r"其进程 \1 已结束"),
       (re.compile(r"^no heartbeat for (\d+) s$"), r"\1 秒无心跳")]
SENTENCES = [  # (pattern of one "; "-separated part, its Chinese; None: translated by a function below)
    (re.compile(r"^published datasets are each before or after the job, never between$"),
     "已发布的数据集各自保持作业之前或之后的状态，不会停在中间"),
    (re.compile(r"^a retry completes it$"), "重试即可完成"),
    (re.compile(r"^nothing published from (.+) was changed by fetching$"), r"采集源 \1 已发布的数据未因本次采集而改变"),
    (re.compile(r"^the next scheduled or manual run retries it$"), "下次计划或手动采集时重试"),
    (re.compile(r"^not retried by itself: interrupted (\d+) times in a row \(harvest\.retry_limit (\d+)\)$"),
     r"不再自动重试：已连续中断 \1 次（harvest.retry_limit 为 \2）"),
    (re.compile(r"^the source answered 304 Not Modified: nothing to map$"), "来源答复 304（未修改）：无需映射"),
    (re.compile(r"^retrying interrupted job (\d+)$"), r"重试中断的作业 \1"),
    (re.compile(r"^(\d+) datasets re-published with their link availability$"), r"\1 个数据集随链接可用性重新发布"),
]
COUNTS = re.compile(r"^(\d+) (.+)$")
ERROR = re.compile(r"^(?:(internal error): )?([A-Z]\w*(?:Error|Exception|Refused\w*|Timeout\w*)): (.*)$", re.S)


def job_message(message: str | None, lang: str) -> str:
    """Return a job's message in lang: as recorded for English, else each known sentence in Chinese."""
    if not message or lang == "en":
        return message or ""
    return "；".join(_part(part) for part in _parts(message))


def _parts(message: str) -> list[str]:
    """Split a message into its sentences ("; "), keeping an error's own text whole (it may hold "; ")."""
    parts = message.split("; ")
    for i, part in enumerate(parts):
        if ERROR.match(part):  # the error's text runs up to the first sentence the table knows
            end = next((j for j in range(i + 1, len(parts)) if _known(parts[j])), len(parts))
            return parts[:i] + ["; ".join(parts[i:end])] + parts[end:]
    return parts


def _known(part: str) -> bool:
    return any(p.match(part) for p, _ in SENTENCES)


def _part(part: str) -> str:
    for pattern, zh in SENTENCES:
        if pattern.match(part):
            return pattern.sub(zh, part)
    if part.startswith("interrupted: "):
        why = part[len("interrupted: "):]
        return "作业中断：" + next((p.sub(zh, why) for p, zh in WHY if p.match(why)), why)
    if part.startswith("data files: "):
        return "数据文件：" + _counts(part[len("data files: "):])
    found = ERROR.match(part)
    if found:
        internal, kind, text = found.groups()
        return f"{'内部错误' if internal else '失败'}（{kind}），原始信息：{text}"
    links = re.match(r"^(\d+) links of (\d+) datasets checked: (.+)$", part)
    if links:
        return f"检查了 {links[2]} 个数据集的 {links[1]} 个链接：" + _counts(links[3])
    return _counts(part)


def _counts(part: str) -> str:
    """Translate a list of "<number> <words>"; a list with an item the table does not know stays as it is."""
    items = [COUNTS.match(x) for x in part.split(", ")]
    if not all(m and m[2] in COUNTED for m in items):
        return part
    return "，".join(f"{COUNTED[m[2]]} {m[1]}" for m in items)
