"""The one translation table for every user-facing string of the dashboard.

Each key maps to an (English, Simplified Chinese) pair. ``t(key, **values)`` formats
the entry of the current interface language with ``str.format``; an empty Chinese
entry falls back to English. Dynamic keys (``f"split.{name}"``) must exist for every
value the page can produce.
"""

from __future__ import annotations

LANGUAGES = ("en", "zh")
DEFAULT_LANGUAGE = "en"
LANGUAGE_STATE_KEY = "shared.language"
LANGUAGE_QUERY_KEY = "lang"
LANGUAGE_NAMES = {"en": "English", "zh": "简体中文"}

STRINGS: dict[str, tuple[str, str]] = {
    # App and navigation
    "app.title": ("Uncertainty Explorer", "不确定性探索器"),
    "app.tagline": (
        "Find where a fine-tuned text classifier is unsure, and why.",
        "找出微调后的文本分类模型在哪里不确定，以及原因。",
    ),
    "nav.data": ("Data", "数据"),
    "nav.train": ("Train", "训练"),
    "nav.explore": ("Explore", "探索"),
    "nav.jobs": ("Jobs", "任务"),
    "nav.adversarial": ("Adversarial", "对抗样本"),
    "nav.triage": ("Triage", "标签复核"),
    "sidebar.language": ("Language", "语言"),
    "sidebar.model": ("Model", "模型"),
    "sidebar.model_help": (
        "'builtin' is all-MiniLM-L6-v2, shipped with the app. Or give a local model folder (with config.json), "
        "or a Hugging Face hub id where this machine has hub access.",
        "'builtin' 为随应用提供的 all-MiniLM-L6-v2。也可填写本地模型目录（含 config.json），"
        "或在可访问 Hugging Face Hub 的机器上填写模型 id。",
    ),
    "sidebar.max_length": ("Maximum tokens per text", "每条文本最大 token 数"),
    "sidebar.max_length_help": (
        "Longer texts are truncated to this many tokens for training and scoring.",
        "训练和打分时，超过此长度的文本会被截断。",
    ),
    "sidebar.reviewer": ("Reviewer name", "复核人"),
    "sidebar.reviewer_help": (
        "Stored with every label decision on the Triage page, so the exported data shows who changed what.",
        "会随标签复核页上的每个决定一起保存，导出的数据因此能显示谁改了什么。",
    ),
    "sidebar.reviewer_placeholder": ("for example: Li Wei", "例如：李伟"),
    "sidebar.dataset": ("Dataset: {name}", "数据集：{name}"),
    "sidebar.workspace": ("Workspace: {path}", "工作区：{path}"),
    # Messages from core (core.messages.Message); the English text equals core's template.
    "core.spare_idle_invalid": (
        "Invalid {variable} {value!r}: set it to a number of seconds, 0 or more (0 turns spares off).",
        "{variable} 的值 {value!r} 无效：请设为 0 或更大的秒数（0 表示不启动备用工作进程）。",
    ),
    "core.read_gb18030": (
        "{name} is not valid UTF-8 (first invalid byte on line {line}); its bytes read as Chinese text, so "
        "it was read as GB18030 (which contains GBK and GB2312). If the text looks wrong, choose the "
        "encoding explicitly.",
        "{name} 不是有效的 UTF-8（第 {line} 行出现第一个无效字节）；其字节可按中文解读，因此已按 GB18030"
        "（兼容 GBK 和 GB2312）读取。如果文字显示不对，请明确指定编码。",
    ),
    "core.read_gb18030_replaced": (
        "{name} is not valid UTF-8 (first invalid byte on line {line}); its bytes read as Chinese text, so "
        "it was read as GB18030 (which contains GBK and GB2312). {invalid} byte sequence(s) are not valid "
        "GB18030 and were replaced with U+FFFD; re-export the file as UTF-8 to keep them. If the text "
        "looks wrong, choose the encoding explicitly.",
        "{name} 不是有效的 UTF-8（第 {line} 行出现第一个无效字节）；其字节可按中文解读，因此已按 GB18030"
        "（兼容 GBK 和 GB2312）读取。其中 {invalid} 处字节序列不是有效的 GB18030，已替换为 U+FFFD；"
        "如需保留，请将文件重新导出为 UTF-8。如果文字显示不对，请明确指定编码。",
    ),
    "core.read_cp1252": (
        "{name} is not valid UTF-8 (first invalid byte on line {line}); it was read as Windows-1252 / Latin-1. "
        "If accented characters look wrong, save the file as UTF-8 or choose the encoding explicitly.",
        "{name} 不是有效的 UTF-8（第 {line} 行出现第一个无效字节），已按 Windows-1252 / Latin-1 读取。"
        "如果带重音的字符显示不对，请将文件另存为 UTF-8，或明确指定编码。",
    ),
    "core.read_quotes_as_text": (
        "{name}: {opened} field(s) start with a double quote, and reading them as quoted fields would "
        "merge {merged} rows, so each line was read as one row. A field wrapped in quotes on its own "
        "line loses the outer quotes; any other quote stays as text.",
        "{name}：有 {opened} 个字段以双引号开头，若按带引号字段读取会合并 {merged} 行，因此改为每行读作一条记录。"
        "整行被引号包住的字段会去掉外层引号，其他引号按文字保留。",
    ),
    "core.read_header_renamed": (
        "{name}: column {column} header {old!r} was renamed to {new!r}.",
        "{name}：第 {column} 列的列名 {old!r} 已改为 {new!r}。",
    ),
    "core.validate_too_few_classes": (
        "Found {count} class(es) among labelled rows; training needs at least 2. Check the label column.",
        "带标签的行中只有 {count} 个类别，训练至少需要 2 个。请检查标签列。",
    ),
    "core.validate_small_classes": (
        "Class(es) {classes} have fewer than {minimum} rows, too few for a stratified split. Add rows or "
        "remove the class.",
        "类别 {classes} 的行数少于 {minimum}，不足以做分层划分。请补充数据或移除该类别。",
    ),
    "core.validate_label_not_categorical": (
        "The label column has {count} distinct values; it is probably not a label. Choose another column.",
        "标签列有 {count} 个不同取值，很可能不是标签。请选择其他列。",
    ),
    # Common
    "runs.none": (
        "No finished runs yet. Fine-tune a model on the Train page first.",
        "还没有已完成的运行。请先在训练页微调模型。",
    ),
    "runs.go_train": ("Go to the Train page", "前往训练页"),
    "runs.label": ("Run", "运行"),
    "runs.option": ("{run} · {data}", "{run} · {data}"),
    "runs.missing": (
        "Run {run} was not found in this workspace; showing the newest run instead.",
        "在此工作区中未找到运行 {run}，改为显示最新的运行。",
    ),
    "common.class": ("Class", "类别"),
    "common.rows": ("Rows", "行数"),
    "common.probability": ("Probability", "概率"),
    "split.train": ("train", "训练集"),
    "split.validation": ("validation", "验证集"),
    "split.test": ("test", "测试集"),
    "split.unlabelled": ("unlabelled", "无标签"),
    # Data page
    "data.title": ("Data", "数据"),
    "data.intro": (
        "Pick the built-in demo corpus or upload labelled text, map the columns and check the validation report.",
        "选择内置示例语料或上传带标签的文本，映射列并查看校验报告。",
    ),
    "data.source": ("Source", "来源"),
    "data.source_demo": ("Demo corpus (38k tweets, 3 sentiments)", "示例语料（3.8 万条推文，3 种情感）"),
    "data.source_upload": ("Upload files", "上传文件"),
    "data.demo_name": ("Tweet sentiment demo corpus (built-in)", "推文情感示例语料（内置）"),
    "data.upload": ("Data file, or one text file per class", "数据文件，或每个类别一个文本文件"),
    "data.upload_help": (
        "CSV, TSV, JSON Lines, Parquet, '<label> <text>' lines, or several one-text-per-line files whose "
        "names are the labels (for example rt-polarity.pos and rt-polarity.neg).",
        "支持 CSV、TSV、JSON Lines、Parquet、“<标签> <文本>”格式，或多个每行一条文本的文件（文件名即标签，"
        "例如 rt-polarity.pos 与 rt-polarity.neg）。",
    ),
    "data.upload_prompt": ("Upload a file to continue.", "请上传文件以继续。"),
    "data.read_options": ("Reading options", "读取选项"),
    "data.format": ("Format", "格式"),
    "data.format_auto": ("detect", "自动识别"),
    "data.format_csv": ("CSV", "CSV"),
    "data.format_tsv": ("TSV", "TSV"),
    "data.format_jsonl": ("JSON Lines", "JSON Lines"),
    "data.format_parquet": ("Parquet", "Parquet"),
    "data.format_prefixed": ("'<label> <text>' lines", "“<标签> <文本>”行"),
    "data.format_lines": ("one text per line, label = file name", "每行一条文本，标签取自文件名"),
    "data.encoding": ("Encoding", "编码"),
    "data.encoding_help": (
        "'auto' tries UTF-8 (with or without BOM), then GB18030 when the bytes read as Chinese text, else "
        "Windows-1252, and warns when it falls back. Or a codec name such as gb18030, gbk or cp1252.",
        "“auto” 依次尝试 UTF-8（含或不含 BOM）；若字节像中文文本则按 GB18030 读取，否则按 Windows-1252 读取，"
        "回退时给出警告。也可填写编码名，如 gb18030、gbk 或 cp1252。",
    ),
    "data.delimiter": ("Delimiter", "分隔符"),
    "data.delimiter_tab": ("tab", "制表符"),
    "data.header": ("First row is a header", "首行为表头"),
    "data.header_auto": ("detect", "自动识别"),
    "data.header_True": ("yes", "是"),
    "data.header_False": ("no", "否"),
    "data.quoting": ("Double quotes", "双引号"),
    "data.quoting_auto": ("detect (never merge rows)", "自动（绝不合并行）"),
    "data.quoting_standard": ("standard CSV quoting", "标准 CSV 引号"),
    "data.quoting_none": ("keep quotes as text", "引号作为普通文本"),
    "data.read_failed": ("Could not read the file. {error}", "无法读取文件。{error}"),
    "data.read_summary": (
        "{name}: {rows:,} rows, {columns} columns, format {format}, encoding {encoding}.",
        "{name}：{rows:,} 行，{columns} 列，格式 {format}，编码 {encoding}。",
    ),
    "data.mapping": ("Column mapping", "列映射"),
    "data.text_column": ("Text column", "文本列"),
    "data.label_column": ("Label column", "标签列"),
    "data.id_column": ("Id column (optional)", "ID 列（可选）"),
    "data.confidence_column": ("Annotator confidence (optional)", "标注置信度列（可选）"),
    "data.mapping_failed": ("The column mapping is not valid. {error}", "列映射无效。{error}"),
    "data.report": ("Validation report", "校验报告"),
    "data.tokenizer_failed": (
        "Truncation could not be counted because the model's tokenizer did not load. {error}",
        "模型分词器未能加载，无法统计截断数量。{error}",
    ),
    "data.validating": ("Checking the data…", "正在校验数据……"),
    "data.preview": ("Preview (first 500 rows)", "预览（前 500 行）"),
    "data.go_train": ("Continue to training", "前往训练"),
    "report.rows_read": ("Rows read", "读取行数"),
    "report.empty_texts": ("Empty texts", "空文本"),
    "report.missing_labels": ("Missing labels", "缺失标签"),
    "report.exact_duplicates": ("Exact duplicates", "完全重复"),
    "report.conflicting": ("Conflicting labels", "标签冲突"),
    "report.conflicting_help": (
        "Distinct texts that occur with more than one label ({rows:,} rows in all).",
        "同一文本带有多个不同标签的情况（共 {rows:,} 行）。",
    ),
    "report.truncated": ("Longer than {max_length} tokens", "超过 {max_length} 个 token"),
    "report.truncated_help": (
        "Texts that will be truncated for the model in the sidebar. Raise the maximum in the sidebar to keep more.",
        "按侧边栏所选模型会被截断的文本数。可在侧边栏调大最大长度。",
    ),
    "report.token_lengths": (
        "Token length: median {p50:.0f}, 95th percentile {p95:.0f}.",
        "token 长度：中位数 {p50:.0f}，95 分位数 {p95:.0f}。",
    ),
    "report.confidence_present": (
        "Annotator confidence present on {present:,} of {rows:,} rows.",
        "{rows:,} 行中有 {present:,} 行带有标注置信度。",
    ),
    "report.no_label": (
        "No label column is mapped: the data can be scored but not used for training.",
        "未映射标签列：数据可用于打分，但不能用于训练。",
    ),
    "report.class_balance": ("Class balance", "类别分布"),
    # Train page
    "train.title": ("Fine-tune", "微调"),
    "train.dataset": ("Dataset: {name} ({rows:,} rows).", "数据集：{name}（{rows:,} 行）。"),
    "train.needs_label": (
        "The chosen data has no label column. Map one on the Data page to train.",
        "所选数据没有标签列。请在数据页映射标签列后再训练。",
    ),
    "train.go_data": ("Go to the Data page", "前往数据页"),
    "train.model_in_sidebar": (
        "Model: {model}, maximum {max_length} tokens (change both in the sidebar).",
        "模型：{model}，最大 {max_length} 个 token（可在侧边栏修改）。",
    ),
    "train.epochs": ("Epochs", "训练轮数"),
    "train.all_rows": ("Use all rows", "使用全部数据"),
    "train.all_rows_help": (
        "On a 2-core CPU the full demo corpus takes far longer than the default sample.",
        "在 2 核 CPU 上，使用完整示例语料比默认抽样慢得多。",
    ),
    "train.max_rows": ("Rows to sample", "抽样行数"),
    "train.max_rows_help": (
        "A stratified, seeded sample of this many rows is split into train, validation and test. "
        "The default finishes in about three minutes on a 2-core CPU.",
        "按类别分层、固定随机种子抽取该数量的行，再划分为训练、验证和测试集。默认值在 2 核 CPU 上约三分钟完成。",
    ),
    "train.seed": ("Seed", "随机种子"),
    "train.advanced": ("Advanced settings", "高级设置"),
    "train.learning_rate": ("Learning rate", "学习率"),
    "train.batch_size": ("Batch size", "批大小"),
    "train.validation_fraction": ("Validation share", "验证集比例"),
    "train.test_fraction": ("Test share", "测试集比例"),
    "train.device": ("Device", "设备"),
    "train.device_help": (
        "'auto' uses a CUDA GPU with mixed precision when present, then Apple MPS, then the CPU.",
        "“auto” 优先使用 CUDA GPU（混合精度），其次 Apple MPS，最后 CPU。",
    ),
    "train.warmup_ratio": ("Warm-up share of steps", "预热步数比例"),
    "train.keep_duplicates": ("Keep duplicate rows", "保留重复行"),
    "train.robustness": ("Adversarial training and augmentation", "对抗训练与数据增强"),
    "train.robustness_help": (
        "Both change only how the training split is used. Validation and test rows, and which rows go to "
        "each split, stay as in a run without them, so the runs compare on the same test rows.",
        "两者只改变训练集的使用方式。验证集和测试集的样本以及每行所属的数据划分都与不开启时相同，"
        "因此各次运行在同一批测试样本上比较。",
    ),
    "train.adversarial": ("Adversarial training", "对抗训练"),
    "train.adversarial_help": (
        "Adds the loss on perturbed word embeddings to the clean loss at every step. FGM takes one step along the "
        "normalised gradient (about 2× the time per step). PGD takes several projected steps (about "
        "steps + 1 times the time per step).",
        "每一步都把词嵌入加扰动后的损失加到原始损失上。FGM 沿归一化梯度走一步（每步耗时约为 2 倍）；"
        "PGD 走多步并投影回扰动范围内（每步耗时约为步数 + 1 倍）。",
    ),
    "train.adversarial.none": ("None", "不使用"),
    "train.adversarial.fgm": ("FGM (one step)", "FGM（单步）"),
    "train.adversarial.pgd": ("PGD (several steps)", "PGD（多步）"),
    "train.adversarial_epsilon": ("Perturbation radius ε", "扰动半径 ε"),
    "train.adversarial_epsilon_help": (
        "Maximum L2 norm of the perturbation of one text, over all its tokens, in multiples of the mean "
        "token-embedding norm of the model. It must be above 0. At 1.0 the perturbation can erase the one word "
        "that decides the label.",
        "单条文本所有 token 的扰动合起来的 L2 范数上限，以模型词嵌入向量的平均范数为单位。须大于 0。"
        "取 1.0 时扰动可能抹掉决定标签的那个词。",
    ),
    "train.adversarial_steps": ("PGD steps", "PGD 步数"),
    "train.adversarial_steps_help": (
        "Gradient ascent steps per optimizer step. Used by PGD only.", "每个优化步中的梯度上升步数，仅用于 PGD。"
    ),
    "train.adversarial_alpha": ("PGD step size α", "PGD 步长 α"),
    "train.adversarial_alpha_help": (
        "L2 norm of one PGD step, in the unit of ε. It must be above 0. Used by PGD only.",
        "PGD 每一步的 L2 范数，单位与 ε 相同。须大于 0，仅用于 PGD。",
    ),
    "train.augment": ("Noise augmentation", "噪声数据增强"),
    "train.augment_help": (
        "Adds noisy copies of every training row, made anew each epoch. Character noise swaps, deletes, inserts "
        "or replaces letters. Word noise drops words or swaps neighbouring words.",
        "为每条训练样本添加噪声副本，每轮重新生成。字符噪声交换、删除、插入或替换字母；词级噪声删除词或交换相邻的词。",
    ),
    "train.augment.none": ("None", "不使用"),
    "train.augment.character": ("Character noise", "字符噪声"),
    "train.augment.word": ("Word noise", "词级噪声"),
    "train.augment_rate": ("Edit probability", "编辑概率"),
    "train.augment_rate_help": (
        "Probability that each character or word of a noisy copy is edited, above 0 and at most 1.",
        "噪声副本中每个字符或词被编辑的概率，须大于 0 且不超过 1。",
    ),
    "train.augment_copies": ("Noisy copies per row", "每行噪声副本数"),
    "train.augment_copies_help": (
        "Each copy adds one pass over the training split to every epoch.",
        "每增加一个副本，每轮训练就多遍历一次训练集。",
    ),
    "train.start": ("Start fine-tuning", "开始微调"),
    "train.failed": ("Fine-tuning failed. {error}", "微调失败。{error}"),
    "train.loss": ("Loss", "损失"),
    "train.step": ("Step", "步数"),
    "train.runs": ("Finished runs", "已完成的运行"),
    "train.no_runs": ("No finished runs in this workspace yet.", "此工作区中还没有已完成的运行。"),
    "train.open_run": ("Run", "运行"),
    "train.open_in_explore": ("Open in Explore", "在探索页打开"),
    "runs.id": ("Run", "运行"),
    "runs.created": ("Created (UTC)", "创建时间（UTC）"),
    "runs.model": ("Model", "模型"),
    "runs.data": ("Data", "数据"),
    "runs.classes": ("Classes", "类别数"),
    "runs.train_rows": ("Train rows", "训练行数"),
    "runs.test_accuracy": ("Test accuracy", "测试集准确率"),
    "train.current_job": ("Current job", "当前任务"),
    "train.job_hint": (
        "Training runs in its own process: you can close this tab or restart the server and come back. "
        "Every job is listed on the Jobs page.",
        "训练在独立进程中运行：可以关闭此标签页或重启服务后再回来。所有任务都列在“任务”页。",
    ),
    # Jobs
    "jobs.title": ("Background jobs", "后台任务"),
    "jobs.spare_failed": (
        "No worker could be prepared in advance, so jobs start a few seconds later. {error}",
        "无法预先准备工作进程，任务会晚几秒开始。{error}",
    ),
    "jobs.none": ("No jobs yet. Start a fine-tune on the Train page.", "还没有任务。请在训练页开始微调。"),
    "jobs.select": ("Job", "任务"),
    "jobs.column_id": ("Job", "任务"),
    "jobs.column_state": ("State", "状态"),
    "jobs.column_progress": ("Progress", "进度"),
    "jobs.column_device": ("Device", "设备"),
    "jobs.column_created": ("Created (UTC)", "创建时间（UTC）"),
    "jobs.column_test_accuracy": ("Test accuracy", "测试集准确率"),
    "jobs.not_found": ("Job {job} was not found in this workspace.", "在此工作区中未找到任务 {job}。"),
    "jobs.heading": ("**{job}** · {state}", "**{job}** · {state}"),
    "jobs.state_queued": ("queued", "排队中"),
    "jobs.state_running": ("running", "运行中"),
    "jobs.state_succeeded": ("succeeded", "已成功"),
    "jobs.state_failed": ("failed", "已失败"),
    "jobs.state_cancelled": ("cancelled", "已取消"),
    "jobs.state_interrupted": ("interrupted", "已中断"),
    "jobs.cancel": ("Cancel", "取消"),
    "jobs.resume": ("Resume", "继续"),
    "jobs.open_explore": ("Open in Explore", "在探索页打开"),
    "jobs.waiting": (
        "Waiting for a free slot: one job per GPU, and a set number of CPU jobs, run at a time.",
        "等待空闲资源：每块 GPU 同时只运行一个任务，CPU 任务数量有上限。",
    ),
    "jobs.progress": (
        "{phase} · step {step}/{total} · epoch {epoch} · about {eta} s left",
        "{phase} · 第 {step}/{total} 步 · 第 {epoch} 轮 · 约剩 {eta} 秒",
    ),
    "jobs.phase_prepare": ("preparing", "准备中"),
    "jobs.phase_train": ("training", "训练中"),
    "jobs.phase_evaluate": ("evaluating", "评估中"),
    "jobs.phase_score": ("scoring all rows", "为全部样本打分"),
    "jobs.phase_save": ("saving", "保存中"),
    "jobs.phase_done": ("done", "完成"),
    "jobs.progress_steps": (
        "{phase} · step {step}/{total} · about {eta} s left",
        "{phase} · 第 {step}/{total} 步 · 约剩 {eta} 秒",
    ),
    "jobs.uncertainty_succeeded": (
        "Finished: {method} on {rows:,} rows, {seconds:.0f} s from start to end.",
        "已完成：{method}，共 {rows:,} 个样本，从开始到结束共 {seconds:.0f} 秒。",
    ),
    "jobs.interrupted_restart": (
        "The job stopped unexpectedly ({reason}) at step {step} of {total}. Resume computes the unfinished "
        "splits again from the start.",
        "任务意外停止（{reason}），停在第 {step}/{total} 步。点击继续将从头重新计算未完成的数据划分。",
    ),
    "jobs.cancelled_restart": (
        "The job was cancelled at step {step} of {total}. Resume computes the unfinished splits again from the "
        "start.",
        "任务已在第 {step}/{total} 步取消。点击继续将从头重新计算未完成的数据划分。",
    ),
    "jobs.cancelling": ("Cancel requested: the job stops after the current step.", "已请求取消：任务将在当前步骤后停止。"),
    "jobs.succeeded": (
        "Finished: test accuracy {accuracy:.3f}, {seconds:.0f} s from start to end.",
        "已完成：测试集准确率 {accuracy:.3f}，从开始到结束共 {seconds:.0f} 秒。",
    ),
    "jobs.failed": ("The job failed. {error}", "任务失败。{error}"),
    "jobs.traceback": ("Traceback", "调用栈"),
    "jobs.interrupted_explained": (
        "The job stopped unexpectedly ({reason}) at step {step} of {total}. Resume continues from the last checkpoint.",
        "任务意外停止（{reason}），停在第 {step}/{total} 步。点击继续将从最近的检查点恢复。",
    ),
    "jobs.cancelled_explained": (
        "The job was cancelled at step {step} of {total}. Resume continues from the checkpoint written then.",
        "任务已在第 {step}/{total} 步取消。点击继续将从当时写入的检查点恢复。",
    ),
    "jobs.loss_curve": ("Training loss", "训练损失"),
    "jobs.validation_curve": ("Validation after each epoch", "每轮结束后的验证结果"),
    "jobs.no_points": ("No training steps yet.", "尚无训练步骤。"),
    "jobs.no_validation": ("No epoch has finished yet.", "尚无已完成的训练轮次。"),
    "jobs.metric_accuracy": ("accuracy", "准确率"),
    "jobs.metric_macro_f1": ("macro F1", "宏平均 F1"),
    "jobs.epoch": ("Epoch", "轮次"),
    "jobs.validation_score": ("Score", "得分"),
    "jobs.details": ("Details: device, times, versions, settings", "详情：设备、时间、版本、设置"),
    "jobs.detail_device": ("Device (requested → used)", "设备（请求 → 实际）"),
    "jobs.detail_created": ("Created (UTC)", "创建时间（UTC）"),
    "jobs.detail_started": ("Started (UTC)", "开始时间（UTC）"),
    "jobs.detail_ended": ("Ended (UTC)", "结束时间（UTC）"),
    "jobs.detail_attempts": ("Attempts", "尝试次数"),
    "jobs.detail_pid": ("Worker process id", "工作进程 ID"),
    "jobs.detail_run": ("Run folder", "运行目录"),
    "jobs.log": ("Log (last lines)", "日志（最后几行）"),
    "jobs.no_log": ("No log lines yet.", "尚无日志。"),
    # Explore page
    "explore.title": ("Explore uncertainty", "探索不确定性"),
    "explore.test_accuracy": ("Test accuracy", "测试集准确率"),
    "explore.macro_f1": ("Macro F1", "宏平均 F1"),
    "explore.nll": ("NLL", "负对数似然"),
    "explore.ece": ("ECE (15 bins)", "ECE（15 个分箱）"),
    "explore.best_epoch": ("Best epoch", "最佳轮次"),
    "explore.per_class": ("Per-class report", "各类别报告"),
    "explore.precision": ("Precision", "精确率"),
    "explore.recall": ("Recall", "召回率"),
    "explore.f1": ("F1", "F1"),
    "explore.support": ("Support", "样本数"),
    "explore.tab_samples": ("Samples", "样本"),
    "explore.tab_methods": ("Compare uncertainty methods", "比较不确定性方法"),
    "common.choose": ("Choose", "请选择"),
    "explore.split": ("Split", "数据划分"),
    "explore.label": ("Label", "标签"),
    "explore.predicted": ("Predicted", "预测"),
    "explore.correctness": ("Prediction", "预测结果"),
    "explore.correct_all": ("all", "全部"),
    "explore.correct_correct": ("correct", "正确"),
    "explore.correct_incorrect": ("incorrect", "错误"),
    "explore.correct_unlabelled": ("no label", "无标签"),
    "explore.search": ("Text contains", "文本包含"),
    "explore.search_help": ("Case-insensitive substring search in the text.", "在文本中进行不区分大小写的子串搜索。"),
    "explore.entropy_range": ("Normalised entropy", "归一化熵"),
    "explore.entropy_help": (
        "Entropy divided by log K: 0 is certain, 1 is uniform over the K classes.",
        "熵除以 log K：0 表示完全确定，1 表示在 K 个类别上均匀分布。",
    ),
    "explore.annotator_range": ("Annotator confidence", "标注置信度"),
    "explore.annotator_help": (
        "Rows without annotator confidence are hidden while this range is narrowed.",
        "收窄此范围时，没有标注置信度的行会被隐藏。",
    ),
    "explore.sort_by": ("Most uncertain first, by", "按以下指标从最不确定开始排序"),
    "explore.showing": ("Showing {shown:,} of {total:,} samples.", "显示 {total:,} 个样本中的 {shown:,} 个。"),
    "explore.no_match": ("No samples match these filters.", "没有符合筛选条件的样本。"),
    "explore.open_attributions": ("Explain this sample on the Attributions page", "在归因页面解释此样本"),
    "explore.open_adversarial": ("Look for edits that flip this sample", "寻找能翻转此样本预测的改动"),
    "explore.sample": ("Selected sample", "所选样本"),
    "explore.select_hint": (
        "Select a row in the table to see its class probabilities.",
        "在表格中选中一行即可查看其各类别概率。",
    ),
    "explore.field": ("Field", "字段"),
    "explore.value": ("Value", "值"),
    "explore.truncated": ("Truncated", "是否截断"),
    "explore.truncated_yes": ("yes, to {tokens} tokens", "是，截断为 {tokens} 个 token"),
    "explore.probabilities": ("Class probabilities", "各类别概率"),
    "explore.plots": ("Distribution and calibration of the filtered samples", "筛选后样本的分布与校准"),
    "explore.histogram": ("Predictive entropy by outcome", "按预测结果划分的预测熵"),
    "explore.outcome": ("Outcome", "结果"),
    "explore.outcome_correct": ("correct", "正确"),
    "explore.outcome_incorrect": ("incorrect", "错误"),
    "explore.outcome_unlabelled": ("no label", "无标签"),
    "explore.no_labels_for_reliability": (
        "The reliability diagram needs labelled samples among the filtered rows.",
        "可靠性图需要筛选结果中包含带标签的样本。",
    ),
    "explore.accuracy": ("Accuracy", "准确率"),
    "explore.perfect_calibration": ("Perfect calibration", "完美校准"),
    "explore.reliability": ("Reliability diagram ({bins} equal-width bins)", "可靠性图（{bins} 个等宽分箱）"),
    "explore.reliability_hover": (
        "confidence %{x:.2f}<br>accuracy %{y:.3f}<br>%{customdata} samples",
        "置信度 %{x:.2f}<br>准确率 %{y:.3f}<br>%{customdata} 个样本",
    ),
    "explore.reliability_before": ("before temperature scaling", "温度缩放前"),
    "explore.reliability_after": ("after temperature scaling", "温度缩放后"),
    "explore.mean_confidence": ("Confidence (top-class probability)", "置信度（最高类别概率）"),
    # Uncertainty methods (Explore page)
    "uncertainty.title": ("Uncertainty beyond softmax entropy", "超越 softmax 熵的不确定性"),
    "uncertainty.intro": (
        "Compute MC dropout, noise injection, text augmentation or an ensemble on one split, then compare "
        "every computed method. Each computation runs as a background job and is stored with the run.",
        "在一个数据划分上计算 MC Dropout、噪声注入、文本增强或集成，再比较所有已计算的方法。"
        "每次计算都作为后台任务运行，结果随运行一起保存。",
    ),
    "uncertainty.method": ("Method", "方法"),
    "uncertainty.method_help": (
        "MC dropout samples dropout masks; the head-only variant runs the encoder once and samples only the "
        "dropout before the classifier. Noise methods perturb the input embeddings or the weights. Augmentation "
        "edits characters or words. An ensemble combines this run with other runs.",
        "MC Dropout 对 dropout 掩码采样；“仅分类头”变体只运行一次编码器，只对分类层前的 dropout 采样。"
        "噪声方法扰动输入嵌入或权重。文本增强编辑字符或词。集成把本运行与其他运行结合。",
    ),
    "uncertainty.split": ("Split to compute", "计算的数据划分"),
    "uncertainty.passes": ("Passes (T)", "采样次数（T）"),
    "uncertainty.passes_help": (
        "Number of stochastic forward passes. More passes give steadier estimates, and the cost grows about "
        "linearly with T.",
        "随机前向传播的次数。次数越多估计越稳定，耗时约与 T 成正比。",
    ),
    "uncertainty.seed": ("Seed", "随机种子"),
    "uncertainty.scale_embedding_noise": ("Noise scale (× embedding RMS)", "噪声尺度（× 嵌入均方根）"),
    "uncertainty.scale_embedding_noise_help": (
        "Standard deviation of the Gaussian noise added to each word embedding, relative to the root mean square "
        "of the model's word-embedding matrix.",
        "加到每个词嵌入上的高斯噪声标准差，以模型词嵌入矩阵的均方根为单位。",
    ),
    "uncertainty.scale_weight_noise": ("Noise scale (relative, per weight)", "噪声尺度（相对值，逐权重）"),
    "uncertainty.scale_weight_noise_help": (
        "Each weight is multiplied by 1 + scale × a standard normal draw in every pass. The original weights are "
        "restored afterwards.",
        "每次前向传播中每个权重乘以 1 + 尺度 × 标准正态随机数，结束后恢复原始权重。",
    ),
    "uncertainty.scale_tta_character": ("Edit probability per character", "每个字符的编辑概率"),
    "uncertainty.scale_tta_character_help": (
        "Each non-space character is swapped, deleted, preceded by a random letter or replaced with this "
        "probability.",
        "每个非空白字符以此概率被交换、删除、在其前插入随机字母或被替换。",
    ),
    "uncertainty.scale_tta_word": ("Edit probability per word", "每个词的编辑概率"),
    "uncertainty.scale_tta_word_help": (
        "Each word is dropped or swapped with the next one with this probability. At least one word is kept.",
        "每个词以此概率被删除或与下一个词交换，至少保留一个词。",
    ),
    "uncertainty.members": ("Other runs in the ensemble", "集成中的其他运行"),
    "uncertainty.members_help": (
        "Finished runs with the same classes. This run is always a member.",
        "类别相同的已完成运行。本运行始终是集成成员。",
    ),
    "uncertainty.no_members": (
        "No other finished run has the same classes. Train more runs on the same data to build an ensemble.",
        "没有其他类别相同的已完成运行。请在相同数据上训练更多运行以构建集成。",
    ),
    "uncertainty.allow_overlap": (
        "Allow members that trained on rows this run holds out",
        "允许成员包含本运行留出数据上训练过的样本",
    ),
    "uncertainty.allow_overlap_help": (
        "Runs trained with another seed have another split, so they trained on some of this run's validation and "
        "test rows. Their results are then optimistic.",
        "用不同随机种子训练的运行有不同的数据划分，因此在本运行的部分验证集和测试集样本上训练过，结果会偏乐观。",
    ),
    "uncertainty.compute": ("Compute on the {split} split", "在{split}上计算"),
    "uncertainty.cached": (
        "These settings are already computed for the {split} split; computing again reuses the stored result.",
        "这些设置已在{split}上计算过；再次计算会直接使用已保存的结果。",
    ),
    "uncertainty.submit_failed": ("The computation could not start. {error}", "计算无法开始。{error}"),
    "uncertainty.job": ("Latest computation", "最近一次计算"),
    "uncertainty.evaluation": ("Comparison settings", "比较设置"),
    "uncertainty.bins": ("ECE bins", "ECE 分箱数"),
    "uncertainty.bins_help": (
        "Number of confidence bins for ECE, MCE and the reliability diagrams, both equal-width and equal-mass.",
        "ECE、MCE 和可靠性图使用的置信度分箱数（等宽与等频分箱均适用）。",
    ),
    "uncertainty.coverage": ("Conformal coverage (1 − α)", "共形预测覆盖率（1 − α）"),
    "uncertainty.coverage_help": (
        "Prediction sets are calibrated on the validation split to contain the true class for at least this "
        "share of rows.",
        "预测集在验证集上校准，使其至少在这一比例的样本中包含真实类别。",
    ),
    "uncertainty.conformal_score": ("Conformal score", "共形分数"),
    "uncertainty.conformal_score_help": (
        "APS adds classes until their probability mass passes the threshold. RAPS also penalises classes beyond "
        "the top one, which keeps sets smaller.",
        "APS 按概率从高到低加入类别直到累计概率超过阈值；RAPS 还对排名靠后的类别加罚，使预测集更小。",
    ),
    "uncertainty.conformal_aps": ("APS", "APS"),
    "uncertainty.conformal_raps": ("RAPS", "RAPS"),
    "uncertainty.disagreement": ("Annotator disagreement below", "标注置信度低于此值视为分歧"),
    "uncertainty.disagreement_help": (
        "Rows whose annotator confidence is below this value count as rows annotators disagreed on. The "
        "comparison reports how well each score ranks them first.",
        "标注置信度低于此值的样本视为标注者存在分歧。比较表给出每个指标把这些样本排在前面的能力。",
    ),
    "uncertainty.comparison": ("Methods compared on the {split} split", "{split}上的方法比较"),
    "uncertainty.no_labels": (
        "The {split} split has no labelled rows, so there is nothing to compare.",
        "{split}没有带标签的样本，无法比较。",
    ),
    "uncertainty.calibrated_on": (
        "Temperature scaling and conformal sets are fitted on each method's results for the validation split.",
        "温度缩放和共形预测集均在各方法的验证集结果上拟合。",
    ),
    "uncertainty.in_sample": (
        "Here they are evaluated on the same rows, so the calibrated values are optimistic.",
        "此处在同一批样本上评估，校准后的数值偏乐观。",
    ),
    "uncertainty.scores": ("Error detection and selective prediction", "错误检测与选择性预测"),
    "uncertainty.risk_coverage": ("Risk–coverage curves, rows ranked by", "风险–覆盖率曲线，排序依据"),
    "uncertainty.coverage_axis": ("Coverage (share of rows kept)", "覆盖率（保留样本的比例）"),
    "uncertainty.risk_axis": ("Risk (error rate of the kept rows)", "风险（保留样本的错误率）"),
    "uncertainty.detail_method": ("Reliability diagram of", "可靠性图所属方法"),
    "uncertainty.reliability_before": (
        "Before temperature scaling: ECE {ece:.4f} ({bins} equal-width bins).",
        "温度缩放前：ECE {ece:.4f}（{bins} 个等宽分箱）。",
    ),
    "uncertainty.reliability_after": (
        "After temperature scaling with T = {temperature:.3f}: ECE {ece:.4f}.",
        "温度缩放（T = {temperature:.3f}）后：ECE {ece:.4f}。",
    ),
    "uncertainty.no_after": (
        "No temperature was fitted: this method has no labelled validation results.",
        "未拟合温度：该方法没有带标签的验证集结果。",
    ),
    "uncertainty.sample_source": ("Extra per-sample scores from", "附加的逐样本指标来自"),
    "uncertainty.sample_source_help": (
        "Adds the chosen method's entropy, expected entropy, mutual information, variation ratio and conformal set "
        "size to the table, to sort and filter by.",
        "在表格中加入所选方法的熵、期望熵、互信息、变异比和共形预测集大小，可用于排序和筛选。",
    ),
    "uncertainty.source_none": ("none", "无"),
    "uncertainty.not_computed": (
        "The chosen method has no result for this sample's split.",
        "所选方法在该样本所属的数据划分上没有结果。",
    ),
    "uncertainty.spread": ("Class probabilities over the {passes} passes", "{passes} 次采样中的各类别概率"),
    "uncertainty.decomposition": ("Total entropy {total:.3f} nats, split", "总熵 {total:.3f} nats 的分解"),
    "uncertainty.aleatoric": ("Expected entropy (aleatoric)", "期望熵（偶然不确定性）"),
    "uncertainty.epistemic": ("Mutual information (epistemic)", "互信息（认知不确定性）"),
    "uncertainty.nats": ("nats", "nats"),
    "uncertainty.variants": ("Augmented texts scored for this sample", "为该样本打分的增强文本"),
    "method.softmax": ("Softmax, one pass", "Softmax（单次前向）"),
    "method.mc_dropout": ("MC dropout", "MC Dropout"),
    "method.mc_dropout_head": ("MC dropout, head only (cheap)", "MC Dropout（仅分类头，低开销）"),
    "method.embedding_noise": ("Noise on input embeddings", "输入嵌入加噪"),
    "method.weight_noise": ("Noise on weights", "权重加噪"),
    "method.tta_character": ("Augmentation: character noise", "文本增强：字符噪声"),
    "method.tta_word": ("Augmentation: word noise", "文本增强：词级噪声"),
    "method.ensemble": ("Deep ensemble of runs", "深度集成（多个运行）"),
    "score.entropy": ("Entropy", "熵"),
    "score.confidence": ("Confidence (top-class probability)", "置信度（最高类别概率）"),
    "score.margin": ("Margin", "概率差"),
    "score.expected_entropy": ("Expected entropy (aleatoric)", "期望熵（偶然不确定性）"),
    "score.mutual_information": ("Mutual information (epistemic)", "互信息（认知不确定性）"),
    "score.variation_ratio": ("Variation ratio", "变异比"),
    "score.set_size": ("Conformal set size", "共形预测集大小"),
    "metric.method": ("Method", "方法"),
    "metric.rows": ("Rows", "行数"),
    "metric.accuracy": ("Accuracy", "准确率"),
    "metric.nll": ("NLL", "负对数似然"),
    "metric.brier": ("Brier score", "Brier 分数"),
    "metric.ece": ("ECE ({bins} equal-width bins)", "ECE（{bins} 个等宽分箱）"),
    "metric.ece_equal_mass": ("ECE ({bins} equal-mass bins)", "ECE（{bins} 个等频分箱）"),
    "metric.mce": ("MCE ({bins} equal-width bins)", "MCE（{bins} 个等宽分箱）"),
    "metric.temperature": ("Temperature T", "温度 T"),
    "metric.nll_scaled": ("NLL after temperature scaling", "温度缩放后的负对数似然"),
    "metric.ece_scaled": ("ECE after temperature scaling ({bins} bins)", "温度缩放后的 ECE（{bins} 个分箱）"),
    "metric.ece_scaled_floor": (
        "ECE a calibrated model would show here ({bins} bins)",
        "完全校准的模型在此处的 ECE（{bins} 个分箱）",
    ),
    "metric.coverage": ("Coverage ({target:.0%} requested)", "覆盖率（目标 {target:.0%}）"),
    "metric.mean_set_size": ("Mean set size", "平均预测集大小"),
    "metric.score": ("Score", "不确定性指标"),
    "metric.auroc": ("AUROC, errors", "AUROC（识别错误）"),
    "metric.auprc": ("AUPRC, errors", "AUPRC（识别错误）"),
    "metric.aurc": ("AURC", "AURC"),
    "metric.selective_accuracy": ("Accuracy at {coverage:.0%} coverage", "{coverage:.0%} 覆盖率下的准确率"),
    "metric.disagreement_auroc": (
        "AUROC, annotator confidence below {threshold:.2f}",
        "AUROC（标注置信度低于 {threshold:.2f}）",
    ),
    "calibration.fit": ("Fit temperature scaling on the validation split", "在验证集上拟合温度缩放"),
    "calibration.refit": ("Fit temperature scaling again", "重新拟合温度缩放"),
    "calibration.fitted": (
        "Temperature T = {temperature:.3f}, fitted on {rows:,} validation rows: NLL {before:.4f} → {after:.4f}.",
        "温度 T = {temperature:.3f}，在 {rows:,} 个验证集样本上拟合：负对数似然 {before:.4f} → {after:.4f}。",
    ),
    "calibration.not_fitted": (
        "No temperature has been fitted for this run yet.",
        "此运行尚未拟合温度缩放。",
    ),
    "calibration.apply": ("Show temperature-scaled probabilities", "显示温度缩放后的概率"),
    "calibration.apply_help": (
        "Divides the logits by T in the table, the histogram and the reliability diagram. The predicted class "
        "does not change.",
        "在表格、直方图和可靠性图中把 logits 除以 T。预测类别不变。",
    ),
    "calibration.failed": ("Temperature scaling failed. {error}", "温度缩放失败。{error}"),
    # Report and Chinese data
    "data.vocabulary_coverage": (
        "Vocabulary coverage of {model}: {unknown:.1%} of the tokens in a sample of {texts:,} texts are the unknown "
        "token {token}.",
        "{model} 的词表覆盖率：在 {texts:,} 条抽样文本中，{unknown:.1%} 的 token 是未知 token {token}。",
    ),
    "data.low_vocabulary": (
        "The model {model} covers little of this text: {unknown:.0%} of the tokens in a sample of {texts:,} texts are "
        "the unknown token {token}, and {mostly:.0%} of the texts are mostly unknown tokens. Fine-tuning would "
        "learn from the few tokens left. Choose a model whose vocabulary covers the language of the data in the "
        "sidebar, for example a local folder with a Chinese BERT checkpoint.",
        "模型 {model} 的词表对这些文本覆盖很少：在 {texts:,} 条抽样文本中，{unknown:.0%} 的 token 是未知 token {token}，"
        "{mostly:.0%} 的文本大部分是未知 token。微调只能从剩下的少量 token 中学习。请在侧边栏选择词表覆盖数据语言的模型，"
        "例如包含中文 BERT 检查点的本地目录。",
    ),
    "explore.export_report": ("Export report", "导出报告"),
    "explore.export_report_help": (
        "Download one HTML file with the data summary, training history, calibration and the most uncertain "
        "samples of this run, in the interface language. It opens in a browser without network access.",
        "下载一个 HTML 文件，包含本次运行的数据概况、训练过程、校准结果和最不确定的样本，语言与界面一致。"
        "无需联网即可在浏览器中打开。",
    ),
    "export.title": ("Uncertainty report: run {run}", "不确定性报告：运行 {run}"),
    "export.generated": (
        "Generated by Uncertainty Explorer on {created} (UTC).",
        "由不确定性探索器生成于 {created}（UTC）。",
    ),
    "export.overview": ("Run", "运行概况"),
    "export.field": ("Field", "字段"),
    "export.value": ("Value", "值"),
    "export.run_id": ("Run id", "运行 ID"),
    "export.created": ("Created (UTC)", "创建时间（UTC）"),
    "export.model": ("Model", "模型"),
    "export.data_name": ("Data", "数据"),
    "export.data_format": ("Data format", "数据格式"),
    "export.data_encoding": ("Data encoding", "数据编码"),
    "export.classes": ("Classes", "类别"),
    "export.epochs": ("Epochs", "训练轮数"),
    "export.max_length": ("Maximum tokens per text", "每条文本最大 token 数"),
    "export.device": ("Device", "设备"),
    "export.data_summary": ("Data", "数据概况"),
    "export.rows_per_split": (
        "Rows per class and split, after empty texts and duplicates were dropped.",
        "去除空文本和重复行之后，各类别在各数据划分中的行数。",
    ),
    "export.truncated_rows": (
        "{rows:,} texts were longer than {max_length} tokens and were truncated.",
        "{rows:,} 条文本超过 {max_length} 个 token，已被截断。",
    ),
    "export.split": ("Split", "数据划分"),
    "export.rows": ("Rows", "行数"),
    "export.total": ("Total", "合计"),
    "export.training": ("Training", "训练过程"),
    "export.history_epoch": ("Epoch", "轮次"),
    "export.history_train_loss": ("Training loss", "训练损失"),
    "export.history_validation_accuracy": ("Validation accuracy", "验证集准确率"),
    "export.history_validation_macro_f1": ("Validation macro F1", "验证集宏平均 F1"),
    "export.history_validation_nll": ("Validation NLL", "验证集负对数似然"),
    "export.history_best": ("Kept", "保留"),
    "export.best_marker": ("best so far", "当前最佳"),
    "export.history_plot_loss": ("Training loss per epoch", "每轮训练损失"),
    "export.history_plot_accuracy": ("Validation accuracy per epoch", "每轮验证集准确率"),
    "export.no_history": ("The run stores no training history.", "该运行没有保存训练过程记录。"),
    "export.split_metrics": (
        "Metrics of the kept model per split",
        "保留的模型在各数据划分上的指标",
    ),
    "export.accuracy": ("Accuracy", "准确率"),
    "export.macro_f1": ("Macro F1", "宏平均 F1"),
    "export.nll": ("NLL", "负对数似然"),
    "export.ece": ("ECE ({bins} equal-width bins)", "ECE（{bins} 个等宽分箱）"),
    "export.brier": ("Brier score", "Brier 分数"),
    "export.calibration": ("Calibration", "校准"),
    "export.temperature_stored": (
        "Temperature scaling: T = {temperature:.3f}, fitted on {rows:,} validation rows and stored with the run.",
        "温度缩放：T = {temperature:.3f}，在 {rows:,} 个验证集样本上拟合，并随运行保存。",
    ),
    "export.temperature_fitted_here": (
        "Temperature scaling: T = {temperature:.3f}, fitted for this report on {rows:,} validation rows and not "
        "stored with the run.",
        "温度缩放：T = {temperature:.3f}，为本报告在 {rows:,} 个验证集样本上拟合，未随运行保存。",
    ),
    "export.no_temperature": (
        "No temperature was fitted: the run has no labelled validation rows.",
        "未拟合温度：该运行没有带标签的验证集样本。",
    ),
    "export.calibration_on": (
        "Measured on the {split} split ({rows:,} labelled rows).",
        "在{split}（{rows:,} 个带标签样本）上计算。",
    ),
    "export.metric": ("Metric", "指标"),
    "export.before": ("Before temperature scaling", "温度缩放前"),
    "export.after": ("After temperature scaling", "温度缩放后"),
    "export.reliability_title": (
        "Reliability diagram ({bins} equal-width bins)",
        "可靠性图（{bins} 个等宽分箱）",
    ),
    "export.reliability_before": ("before temperature scaling", "温度缩放前"),
    "export.reliability_after": ("after temperature scaling", "温度缩放后"),
    "export.perfect_calibration": ("Perfect calibration", "完美校准"),
    "export.mean_confidence": ("Confidence (top-class probability)", "置信度（最高类别概率）"),
    "export.bin_accuracy": ("Accuracy", "准确率"),
    "export.reliability_hover": (
        "confidence %{x:.2f}<br>accuracy %{y:.3f}<br>%{customdata} samples",
        "置信度 %{x:.2f}<br>准确率 %{y:.3f}<br>%{customdata} 个样本",
    ),
    "export.uncertain_samples": ("Most uncertain samples", "最不确定的样本"),
    "export.uncertain_intro": (
        "The {count} validation, test and unlabelled samples with the highest predictive entropy, before "
        "temperature scaling.",
        "验证集、测试集和无标签样本中预测熵最高的 {count} 个样本（温度缩放前）。",
    ),
    "export.no_samples": ("The run has no samples outside the training split.", "该运行在训练集之外没有样本。"),
    "export.column_id": ("Id", "ID"),
    "export.column_text": ("Text", "文本"),
    "export.column_label": ("Label", "标签"),
    "export.column_predicted": ("Predicted", "预测"),
    "export.column_confidence": ("Confidence", "置信度"),
    "export.column_entropy": ("Entropy (nats)", "熵（nats）"),
    "export.column_correct": ("Correct", "是否正确"),
    "export.column_split": ("Split", "数据划分"),
    "export.correct_yes": ("yes", "是"),
    "export.correct_no": ("no", "否"),
    "export.no_label": ("no label", "无标签"),
    "export.flips": ("Flips found", "发现的预测翻转"),
    "export.flips_pending": (
        "No attack is stored with this run yet. Start one on the Adversarial page to list the edits that flip "
        "its predictions here.",
        "此运行还没有保存的攻击结果。在对抗样本页发起攻击后，能翻转预测的改动会列在这里。",
    ),
    "export.flips_recipe": ("{recipe} (attack of {created})", "{recipe}（攻击时间 {created}）"),
    "export.flips_summary": (
        "{rows} rows, {attacked} attacked, {flipped} flipped: success rate {success}; accuracy {clean} before and "
        "{attacked_accuracy} under attack; {queries} model queries per attacked sample on average.",
        "共 {rows} 行，攻击 {attacked} 行，翻转 {flipped} 行：攻击成功率 {success}；准确率攻击前 {clean}，"
        "攻击下 {attacked_accuracy}；平均每个被攻击样本查询模型 {queries} 次。",
    ),
    "export.column_original": ("Original (removed characters struck out)", "原文（删除的字符加删除线）"),
    "export.column_adversarial": ("Adversarial (added characters highlighted)", "对抗样本（新增字符高亮）"),
    "export.column_change": ("Prediction", "预测变化"),
    "export.attributions": ("Attributions of the flips", "预测翻转的归因"),
    "export.attributions_pending": (
        "No attribution of a flip is stored yet. On the Adversarial page, open a flip's attributions to add it "
        "here.",
        "还没有保存的翻转样本归因。在对抗样本页打开某条翻转样本的归因后，会加入此处。",
    ),
    "export.attributions_intro": (
        "Integrated Gradients for the class predicted before the edit: red words support it, blue words speak "
        "against it.",
        "针对改动前预测类别的积分梯度归因：红色的词支持该类别，蓝色的词不利于该类别。",
    ),
    "export.attribution_pair": ("Row {row}", "第 {row} 行"),
    "export.versions": ("Library versions", "库版本"),
    # Table columns
    "column.row": ("Row", "行号"),
    "column.id": ("Id", "ID"),
    "column.text": ("Text", "文本"),
    "column.label": ("Label", "标签"),
    "column.predicted": ("Predicted", "预测"),
    "column.entropy": ("Entropy (nats)", "熵（nats）"),
    "column.entropy_normalized": ("Entropy / log K", "熵 / log K"),
    "column.confidence": ("Confidence", "置信度"),
    "column.margin": ("Margin", "概率差"),
    "column.correct": ("Correct", "是否正确"),
    "column.split": ("Split", "数据划分"),
    "column.annotator_confidence": ("Annotator confidence", "标注置信度"),
    "column.method_entropy": ("Entropy of the method's mean", "所选方法平均概率的熵"),
    "column.expected_entropy": ("Expected entropy", "期望熵"),
    "column.mutual_information": ("Mutual information", "互信息"),
    "column.variation_ratio": ("Variation ratio", "变异比"),
    "column.set_size": ("Conformal set size", "共形预测集大小"),
    # Attributions page
    "nav.attributions": ("Attributions", "归因分析"),
    "attributions.title": ("Attributions", "归因分析"),
    "attributions.intro": (
        "Which words push the prediction of a sample, and which words make the model unsure. The left view "
        "explains a class logit, the right view an uncertainty score; red words raise it, blue words lower it.",
        "查看哪些词推动了样本的预测，哪些词让模型不确定。左侧解释某个类别的 logit，右侧解释不确定性分数；"
        "红色的词使其升高，蓝色的词使其降低。",
    ),
    "attributions.row": ("Row", "行号"),
    "attributions.rows": ("Rows", "行数"),
    "attributions.split": ("Split", "数据划分"),
    "attributions.sample": ("Sample (most uncertain first)", "样本（按不确定性从高到低）"),
    "attributions.sample_option": ("Id {id} · entropy {entropy:.3f} · {text}", "ID {id} · 熵 {entropy:.3f} · {text}"),
    "attributions.method": ("Method", "归因方法"),
    "attributions.method_integrated_gradients": ("Integrated Gradients", "积分梯度（Integrated Gradients）"),
    "attributions.method_gradient_x_input": ("Gradient × input", "梯度 × 输入"),
    "attributions.method_saliency": ("Saliency (gradient norm)", "显著性（梯度范数）"),
    "attributions.method_occlusion": ("Word occlusion", "词级遮挡"),
    "attributions.method_lime": ("LIME (words as features)", "LIME（以词为特征）"),
    "attributions.method_kernel_shap": ("Kernel SHAP (words as features)", "Kernel SHAP（以词为特征）"),
    "attributions.class_target": ("Class to explain", "要解释的类别"),
    "attributions.target_predicted": ("Predicted class", "预测类别"),
    "attributions.target_label": ("Labelled class", "标签类别"),
    "attributions.target_class": ("Chosen class", "指定类别"),
    "attributions.target_entropy": ("Predictive entropy", "预测熵"),
    "attributions.target_mc_entropy": ("MC dropout entropy", "MC Dropout 预测熵"),
    "attributions.target_mutual_information": ("Mutual information (MC dropout)", "互信息（MC Dropout）"),
    "attributions.uncertainty_target": ("Uncertainty to explain", "要解释的不确定性"),
    "attributions.settings": ("Method settings", "方法设置"),
    "attributions.baseline": ("Baseline", "基线"),
    "attributions.baseline_pad": ("[PAD] tokens", "[PAD] token"),
    "attributions.baseline_mask": ("[MASK] tokens", "[MASK] token"),
    "attributions.baseline_zero": ("Zero embeddings", "零向量嵌入"),
    "attributions.n_steps": ("Integration steps", "积分步数"),
    "attributions.n_steps_help": (
        "Gauss-Legendre nodes along the path from the baseline to the text. More steps lower the convergence delta "
        "and cost proportionally more time.",
        "从基线到输入文本路径上的 Gauss-Legendre 积分节点数。步数越多，收敛误差越小，耗时按比例增加。",
    ),
    "attributions.internal_batch_size": ("Internal batch size", "内部批大小"),
    "attributions.internal_batch_size_help": (
        "Interpolated inputs per forward and backward pass; 0 sizes it automatically. Lower it if memory runs out.",
        "每次前向和反向传播处理的插值输入数；0 表示自动设置。内存不足时请调小。",
    ),
    "attributions.aggregation": ("Sub-words to words", "子词合并为词"),
    "attributions.aggregation_sum": ("sum", "求和"),
    "attributions.aggregation_max": ("largest magnitude", "绝对值最大者"),
    "attributions.aggregation_help": (
        "How the scores of a word's sub-word tokens combine. The sum keeps Integrated Gradients complete; the "
        "largest magnitude keeps the strongest piece with its sign.",
        "一个词的多个子词分数如何合并。求和可保持积分梯度的完备性；取绝对值最大者则保留最强子词的分数及其符号。",
    ),
    "attributions.samples": ("Perturbed samples", "扰动样本数"),
    "attributions.samples_help": (
        "Random subsets of words that LIME or Kernel SHAP evaluates. More samples give more stable scores.",
        "LIME 或 Kernel SHAP 评估的随机词子集数量。样本越多，分数越稳定。",
    ),
    "attributions.passes": ("Dropout passes (T)", "Dropout 采样次数（T）"),
    "attributions.passes_help": (
        "MC dropout passes with fixed, seeded masks, so every evaluation explains the same function.",
        "使用固定随机种子掩码的 MC Dropout 前向次数，保证每次评估解释的是同一个函数。",
    ),
    "attributions.seed": ("Seed", "随机种子"),
    "attributions.computing": ("Computing attributions…", "正在计算归因…"),
    "attributions.failed": ("Attribution failed. {error}", "归因计算失败。{error}"),
    "attributions.text": ("Text", "文本"),
    "attributions.label": ("Label", "标签"),
    "attributions.predicted": ("Predicted", "预测"),
    "attributions.confidence": ("Confidence", "置信度"),
    "attributions.entropy": ("Entropy", "熵"),
    "attributions.truncated": (
        "The text has {total} tokens and was truncated to the model's maximum of {kept}; {words} words at the "
        "end have no score (struck through).",
        "该文本共 {total} 个 token，已截断至模型上限 {kept} 个；末尾 {words} 个词没有分数（以删除线显示）。",
    ),
    "attributions.class_view": ("Class logit: {name}", "类别 logit：{name}"),
    "attributions.uncertainty_view": ("Uncertainty: {target}", "不确定性：{target}"),
    "attributions.legend": ("Colour", "颜色"),
    "attributions.for_class": ("for the class", "支持该类别"),
    "attributions.against_class": ("against", "反对该类别"),
    "attributions.raises_uncertainty": ("more unsure", "更不确定"),
    "attributions.lowers_uncertainty": ("more certain", "更确定"),
    "attributions.cut": ("cut off by truncation, no score", "因截断而无分数"),
    "attributions.output": ("Explained output", "被解释的输出"),
    "attributions.baseline_output": ("Output at baseline", "基线处的输出"),
    "attributions.delta": ("Convergence delta", "收敛误差"),
    "attributions.delta_help": (
        "Sum of the attributions minus the output difference between text and baseline. Integrated Gradients "
        "makes it zero in the limit of many steps.",
        "归因之和减去文本与基线的输出差。步数足够多时，积分梯度的该值趋于零。",
    ),
    "attributions.delta_warning": (
        "The convergence delta {delta:+.2e} is {ratio:.0%} of the output difference, so these scores do not add up "
        "to the change they explain. Raise the integration steps above {steps}.",
        "收敛误差 {delta:+.2e} 达到输出差的 {ratio:.0%}，归因之和与其解释的变化不一致。请把积分步数提高到 {steps} 以上。",
    ),
    "attributions.flag_all_zero": (
        "Every word scored zero: this method sees no effect of the words on this output.",
        "所有词的分数均为零：该方法没有观察到词对该输出的影响。",
    ),
    "attributions.flag_concentrated": (
        "One word holds almost all of the attribution; check it against another method before trusting it.",
        "几乎全部归因集中在一个词上；请先用其他方法对照，再决定是否采信。",
    ),
    "attributions.flag_large_delta": (
        "The convergence delta is large relative to the output difference.",
        "收敛误差相对于输出差过大。",
    ),
    "attributions.no_words": ("The text has no words to score.", "该文本没有可评分的词。"),
    "attributions.comprehensiveness": ("Comprehensiveness", "全面性"),
    "attributions.comprehensiveness_help": (
        "How much the explained probability (or uncertainty) drops when the top-ranked words are deleted, averaged "
        "over 1%, 5%, 10%, 20% and 50% of the words (ERASER). Higher means more faithful.",
        "删除排名靠前的词后，被解释的概率（或不确定性）下降多少，在 1%、5%、10%、20% 和 50% 的词上取平均（ERASER）。"
        "越高越忠实。",
    ),
    "attributions.sufficiency": ("Sufficiency", "充分性"),
    "attributions.sufficiency_help": (
        "How much the explained probability (or uncertainty) drops when only the top-ranked words are kept, "
        "averaged over the same fractions (ERASER). Lower means more faithful.",
        "只保留排名靠前的词时，被解释的概率（或不确定性）下降多少，在相同比例上取平均（ERASER）。越低越忠实。",
    ),
    "attributions.deletion_curve": ("Deletion curve", "删除曲线"),
    "attributions.deletion_x": ("Share of words deleted, highest score first", "已删除词的比例（按分数从高到低）"),
    "attributions.probability_of": ("Probability of {name}", "{name} 的概率"),
    "attributions.export_html": ("Download HTML", "下载 HTML"),
    "attributions.export_png": ("Download PNG", "下载 PNG"),
    "attributions.export_title": ("Attributions: run {run}, row {row}", "归因分析：运行 {run}，第 {row} 行"),
    "attributions.tokens": ("Token scores", "token 分数"),
    "attributions.token": ("Token", "token"),
    "attributions.job_title": ("Attribute many rows", "批量计算归因"),
    "attributions.job_intro": (
        "Computes the current method for the most uncertain rows of a split as a background job and stores each "
        "result with the run; this page then opens those rows at once.",
        "以后台任务为某个数据划分中最不确定的若干行计算当前方法的归因，并随运行保存每条结果；之后在本页打开这些行会立即显示。",
    ),
    "attributions.job_rows": ("Rows", "行数"),
    "attributions.job_target": ("Target", "解释目标"),
    "attributions.job_randomisation": ("Randomisation check", "随机化检验"),
    "attributions.job_randomisation_help": (
        "Also attribute the rows with a copy of the model whose layers above the embeddings are re-initialised "
        "(Adebayo et al. 2018). Scores that barely change do not depend on what the model learned.",
        "同时用嵌入层以上各层重新随机初始化的模型副本计算这些行的归因（Adebayo 等，2018）。"
        "若分数几乎不变，说明归因并不依赖模型学到的内容。",
    ),
    "attributions.job_submit": ("Start job", "启动任务"),
    "attributions.job_succeeded": (
        "{method}: attributed {rows} rows in {seconds:.0f} s.",
        "{method}：已完成 {rows} 行的归因，用时 {seconds:.0f} 秒。",
    ),
    "attributions.attack_missing": (
        "Attack {attack} from the address could not be read ({error}); showing the row without it.",
        "无法读取地址中的攻击记录 {attack}（{error}）；仅显示该行本身。",
    ),
    "attributions.attack_no_flip": (
        "Attack {attack} found no flip for row {row}, so there is no adversarial text to compare.",
        "攻击记录 {attack} 未在第 {row} 行找到预测翻转，因此没有可比较的对抗样本。",
    ),
    "attributions.adversarial_title": ("Original and adversarial text", "原文与对抗样本"),
    "attributions.adversarial_intro": (
        "Both texts explained for the class the model predicted before the edit ({before}); after the edit it "
        "predicts {after}. Words whose support dropped show what the attack exploited.",
        "两段文本都针对改动前的预测类别（{before}）做归因；改动后模型预测为 {after}。支持度下降的词就是攻击利用的地方。",
    ),
    "attributions.original_text": ("Original", "原文"),
    "attributions.adversarial_text": ("Adversarial", "对抗样本"),
    "attributions.randomisation_title": ("Randomised-weights checks", "随机权重检验"),
    "attributions.randomisation_intro": (
        "Mean Spearman rank correlation between the absolute word scores of the trained and the randomised model. "
        "At 0.5 or above the method fails the check.",
        "训练后模型与随机化模型的词分数绝对值之间的平均 Spearman 秩相关。达到 0.5 及以上即视为未通过检验。",
    ),
    "attributions.rank_correlation": ("Rank correlation", "秩相关"),
    "attributions.randomisation_fails": ("Fails the check", "未通过检验"),
    "attributions.yes": ("yes", "是"),
    "attributions.no": ("no", "否"),
}


# Pages added later keep their entries in their own modules; they join this one table here.
from ui.strings_adversarial import STRINGS_ADVERSARIAL  # noqa: E402
from ui.strings_triage import STRINGS_TRIAGE  # noqa: E402

for _section in (STRINGS_ADVERSARIAL, STRINGS_TRIAGE):
    _clashes = sorted(set(_section) & set(STRINGS))
    if _clashes:
        raise KeyError(f"Translation keys defined twice: {', '.join(_clashes)}")
    STRINGS.update(_section)

_last_language = DEFAULT_LANGUAGE


def current_language() -> str:
    """Return the interface language of the running session, English by default.

    Outside a script run (``AppTest`` formats widget options from the test thread) the
    language of the most recent run is used.
    """
    try:
        import streamlit as st
        from streamlit.runtime.scriptrunner import get_script_run_ctx
    except ImportError:
        return DEFAULT_LANGUAGE
    if get_script_run_ctx(suppress_warning=True) is None:
        return _last_language
    language = st.session_state.get(LANGUAGE_STATE_KEY, DEFAULT_LANGUAGE)
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def init_language() -> str:
    """Set the session language from ``?lang=`` (a shared link), else keep the session's; return it."""
    global _last_language
    import streamlit as st

    requested = st.query_params.get(LANGUAGE_QUERY_KEY)
    if requested in LANGUAGES:
        st.session_state[LANGUAGE_STATE_KEY] = requested
    language = current_language()
    st.session_state[LANGUAGE_STATE_KEY] = language
    st.query_params[LANGUAGE_QUERY_KEY] = language
    _last_language = language
    return language


def t_message(message: str, language: str | None = None) -> str:
    """Return a message from ``core`` in the interface language.

    A :class:`core.messages.Message` whose ``core.<key>`` entry exists is translated;
    any other string (an English error from a library, say) is returned unchanged.
    """
    key = f"core.{getattr(message, 'key', '')}"
    if key in STRINGS and isinstance(getattr(message, "values", None), dict):
        return t(key, language, **message.values)
    return str(message)


def t(key: str, language: str | None = None, **values) -> str:
    """Return the translated string for ``key`` with ``values`` filled in.

    Raises:
        KeyError: ``key`` is not in :data:`STRINGS`, so a missing entry fails loudly
            in tests instead of showing a raw key to users.
    """
    entry = STRINGS[key]
    language = language or current_language()
    text = entry[LANGUAGES.index(language)] or entry[0]
    return text.format(**values) if values else text
