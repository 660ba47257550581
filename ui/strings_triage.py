"""Translation entries of the Triage page (label review queue): (English, Simplified Chinese) pairs.

Merged into :data:`ui.i18n.STRINGS`, the one table every page reads through ``t``.
"""

from __future__ import annotations

STRINGS_TRIAGE: dict[str, tuple[str, str]] = {
    "triage.title": ("Label triage", "标签复核"),
    "triage.intro": (
        "Review the rows most likely mislabelled or most worth labelling, one at a time. Each decision is saved at "
        "once. Keys: A accept, S skip, F flag, U undo, 1-9 relabel to that class.",
        "逐条复核最可能标错或最值得标注的行，每个决定都会立即保存。快捷键：A 接受，S 跳过，F 标记，U 撤销，"
        "1-9 改为对应类别。",
    ),
    "triage.crossval_title": ("Out-of-sample probabilities by cross-validation", "用交叉验证得到样本外概率"),
    "triage.crossval_intro": (
        "Fine-tunes one model per fold on {name}, each scoring only the rows it never trained on. Scores computed on "
        "the training data itself cannot find label errors, because the model has memorised those labels.",
        "在 {name} 上每折微调一个模型，每个模型只给没参与其训练的行打分。用训练数据本身算出的分数找不出标签错误，"
        "因为模型已经记住了这些标签。",
    ),
    "triage.folds": ("Folds", "折数"),
    "triage.folds_help": (
        "K models, each trained on K-1 folds. More folds train on more data but take longer.",
        "共训练 K 个模型，每个用 K-1 折训练。折数越多训练数据越多，但耗时越长。",
    ),
    "triage.epochs": ("Epochs per fold", "每折训练轮数"),
    "triage.max_rows": ("Maximum rows (0 = all)", "最多行数（0 为全部）"),
    "triage.max_rows_help": (
        "A stratified sample of the labelled rows, for a quicker first pass.",
        "对带标签的行做分层抽样，用于更快的初步检查。",
    ),
    "triage.crossval_submit": ("Start cross-validation", "开始交叉验证"),
    "triage.submit_failed": ("Could not start the job: {error}", "无法启动任务：{error}"),
    "triage.job_succeeded": (
        "Cross-validation finished in {seconds:.0f} s: {folds} folds over {rows} labelled rows, out-of-sample "
        "accuracy {accuracy:.1%}. Choose it under Probabilities from.",
        "交叉验证完成，用时 {seconds:.0f} 秒：{rows} 行带标签数据，{folds} 折，样本外准确率 {accuracy:.1%}。"
        "请在“概率来源”中选择它。",
    ),
    "triage.no_source": (
        "Nothing to triage yet: start a cross-validation above, or fine-tune a run on the Train page.",
        "还没有可复核的内容：请在上方发起交叉验证，或在训练页微调一个运行。",
    ),
    "triage.source": ("Probabilities from", "概率来源"),
    "triage.source_crossval": (
        "Cross-validation {id} · {rows} rows · {folds} folds · accuracy {accuracy:.1%}",
        "交叉验证 {id} · {rows} 行 · {folds} 折 · 准确率 {accuracy:.1%}",
    ),
    "triage.source_run": ("Run {id} (in-sample, weaker)", "运行 {id}（样本内，较弱）"),
    "triage.in_sample_warning": (
        "These probabilities come from a model that trained on most of these rows, so it tends to agree with their "
        "labels, right or wrong. Use cross-validation to find label errors reliably.",
        "这些概率来自在大部分行上训练过的模型，无论标签对错它都倾向于认同。要可靠地找出标签错误，请使用交叉验证。",
    ),
    "triage.source_failed": ("Could not read the probabilities: {error}", "无法读取概率：{error}"),
    "triage.settings": ("Queue settings", "队列设置"),
    "triage.issue_method": ("Label-error detection", "标签错误检测方法"),
    "triage.issue_method_help": (
        "Confident learning (Northcutt et al. 2021): rows whose given label the model confidently contradicts, "
        "counted per class with per-class thresholds.",
        "置信学习（Northcutt 等，2021）：模型有把握地否定其给定标签的行，按类别阈值逐类统计。",
    ),
    "triage.issue_prune_by_noise_rate": ("Prune by noise rate", "按噪声率剪枝"),
    "triage.issue_prune_by_class": ("Prune by class", "按类别剪枝"),
    "triage.issue_both": ("Both pruning rules", "两种剪枝规则同时满足"),
    "triage.issue_confident_joint": ("Off-diagonal of the confident joint", "置信联合矩阵的非对角元素"),
    "triage.acquisition": ("What to label next", "下一步标注依据"),
    "triage.acquisition_help": (
        "Score of how much a label for the row is expected to help. BALD needs several models' probabilities, "
        "which cross-validation gives for rows without labels.",
        "衡量为该行打标签预计有多大帮助。BALD 需要多个模型的概率，交叉验证会为无标签的行提供。",
    ),
    "triage.acquisition_entropy": ("Entropy", "熵"),
    "triage.acquisition_margin": ("Smallest margin", "最小概率差"),
    "triage.acquisition_bald": ("BALD (mutual information)", "BALD（互信息）"),
    "triage.uncertain_count": ("Uncertain rows to queue", "加入队列的不确定行数"),
    "triage.confidence_threshold": ("Annotator confidence below", "标注置信度低于"),
    "triage.confidence_threshold_help": (
        "Rows whose annotator confidence is below this value are queued as annotator disagreement.",
        "标注置信度低于此值的行会以“标注者意见不一”加入队列。",
    ),
    "triage.pool": ("Rows to rank for labelling", "参与标注排序的行"),
    "triage.pool_help": (
        "Rows without labels, or a sample of all scored rows when every row has a label.",
        "无标签的行；或在每行都有标签时，从所有已打分的行中抽样。",
    ),
    "triage.pool_unlabelled": ("Rows without labels", "无标签的行"),
    "triage.pool_all": ("A sample of all rows", "所有行的样本"),
    "triage.diversity": ("Diverse picks", "多样化挑选"),
    "triage.diversity_help": (
        "Pick uncertain rows far apart in the built-in sentence encoder's space (greedy k-centre), so the queue is "
        "not many copies of one text.",
        "在内置句向量编码器的空间中挑选彼此相距较远的不确定行（贪心 k-center），避免队列里全是同一类文本。",
    ),
    "triage.building": ("Building the queue…", "正在生成队列……"),
    "triage.queue_failed": ("Could not build the queue: {error}", "无法生成队列：{error}"),
    "triage.queue_summary": (
        "{rows} rows queued: {likely_mislabelled} likely mislabelled, {uncertain} uncertain, {annotators_disagreed} "
        "with annotator disagreement, {conflicting_duplicate} duplicates with conflicting labels. Estimated share "
        "of wrong labels: {noise}.",
        "队列共 {rows} 行：{likely_mislabelled} 行可能标错，{uncertain} 行不确定，{annotators_disagreed} 行标注者"
        "意见不一，{conflicting_duplicate} 行为标签冲突的重复文本。估计错误标签占比：{noise}。",
    ),
    "triage.progress": (
        "{reviewed} of {queued} reviewed ({skipped} skipped for later)",
        "已复核 {reviewed} / {queued} 行（{skipped} 行跳过待定）",
    ),
    "triage.need_reviewer": (
        "Enter your name under Reviewer name in the sidebar to record decisions.",
        "请先在侧边栏的“复核人”中填写姓名，才能记录决定。",
    ),
    "triage.record_failed": ("The decision was not saved: {error}", "决定未保存：{error}"),
    "triage.nothing_to_undo": ("{reviewer} has no decision to undo.", "{reviewer} 没有可撤销的决定。"),
    "triage.filter_class": ("Class", "类别"),
    "triage.filter_reason": ("Reason", "原因"),
    "triage.reason_likely_mislabelled": ("likely mislabelled", "可能标错"),
    "triage.reason_uncertain": ("uncertain", "不确定"),
    "triage.reason_annotators_disagreed": ("annotators disagreed", "标注者意见不一"),
    "triage.reason_conflicting_duplicate": ("duplicate with another label", "重复文本标签冲突"),
    "triage.all_reviewed": ("Every row that matches the filters has a decision.", "符合筛选条件的每一行都已有决定。"),
    "triage.card_title": ("Row {id} (rank {rank})", "第 {id} 行（排名 {rank}）"),
    "triage.given_label": ("Given label", "给定标签"),
    "triage.no_label": ("none", "无"),
    "triage.suggested_label": ("Model suggests", "模型建议"),
    "triage.probability": ("p = {value:.3f}", "p = {value:.3f}"),
    "triage.self_confidence": ("Self-confidence", "自置信度"),
    "triage.self_confidence_help": (
        "Out-of-sample probability of the given label; low values suggest a wrong label.",
        "给定标签的样本外概率；数值低说明标签可能有误。",
    ),
    "triage.annotator_confidence": ("Annotator confidence", "标注置信度"),
    "triage.reasons_line": ("Queued because: {reasons}", "入队原因：{reasons}"),
    "triage.duplicate_line": ("The same text also has the labels: {labels}", "相同文本还带有这些标签：{labels}"),
    "triage.accept": ("Accept label", "接受标签"),
    "triage.accept_help": ("The given label is right.", "给定标签正确。"),
    "triage.skip": ("Skip", "跳过"),
    "triage.flag": ("Flag", "标记"),
    "triage.flag_help": (
        "Unclear or unusable row; the export can leave flagged rows out.",
        "含义不清或不可用的行；导出时可以去掉被标记的行。",
    ),
    "triage.undo": ("Undo", "撤销"),
    "triage.relabel_to": ("Relabel to:", "改为："),
        "triage.queue_table": ("Queue ({rows} rows)", "队列（{rows} 行）"),
    "triage.column_rank": ("Rank", "排名"),
    "triage.column_id": ("Id", "Id"),
    "triage.column_text": ("Text", "文本"),
    "triage.column_label": ("Given label", "给定标签"),
    "triage.column_suggested": ("Suggested", "建议标签"),
    "triage.column_reasons": ("Reasons", "原因"),
    "triage.column_self_confidence": ("Self-confidence", "自置信度"),
    "triage.column_decision": ("Decision", "决定"),
    "triage.action_relabel": ("relabelled", "已改标签"),
    "triage.action_accept": ("accepted", "已接受"),
    "triage.action_skip": ("skipped", "已跳过"),
    "triage.action_flag": ("flagged", "已标记"),
    "triage.export_title": ("Export the corrected data", "导出修正后的数据"),
    "triage.drop_flagged": ("Leave flagged rows out", "去掉被标记的行"),
    "triage.export_failed": ("Could not build the corrected data: {error}", "无法生成修正后的数据：{error}"),
    "triage.download_csv": ("Download CSV", "下载 CSV"),
    "triage.download_parquet": ("Download Parquet", "下载 Parquet"),
    "triage.export_caption": (
        "Audit columns record the original label, the new label, the decision, the reviewer and the time. In the "
        "CSV, cells that start with =, +, - or @ get a leading quote so a spreadsheet shows them as text.",
        "审计列记录原标签、新标签、决定、复核人和时间。CSV 中以 =、+、- 或 @ 开头的单元格会加上前导单引号，"
        "使电子表格把它们当作文本显示。",
    ),
    "triage.retrain_title": ("Retrain with corrections", "用修正后的数据重新训练"),
    "triage.retrain_base": ("Settings and splits from run", "沿用该运行的设置与数据划分"),
    "triage.retrain_base_help": (
        "The new run uses this run's training settings and gives every row the same split, so both are tested on "
        "the same rows.",
        "新运行沿用该运行的训练设置，并让每一行保持相同的数据划分，从而在相同的行上测试两者。",
    ),
    "triage.retrain_submit": ("Retrain with corrections", "用修正后的数据重新训练"),
    "triage.compare_title": ("Before and after the corrections (test split)", "修正前后对比（测试集）"),
    "triage.compare_failed": ("Could not compare the runs: {error}", "无法比较两个运行：{error}"),
    "triage.compare_metric": ("Metric", "指标"),
    "triage.compare_before": ("Before ({run})", "修正前（{run}）"),
    "triage.compare_after": ("After ({run})", "修正后（{run}）"),
    "triage.compare_change": ("Change", "变化"),
    "triage.compare_caption": (
        "{changed} of the {rows} test rows have a corrected label, so the two runs are scored against partly "
        "different labels.",
        "测试集 {rows} 行中有 {changed} 行的标签已修正，因此两个运行所对照的标签不完全相同。",
    ),
    "triage.metric_accuracy": ("Accuracy", "准确率"),
    "triage.metric_macro_f1": ("Macro F1", "宏平均 F1"),
    "triage.metric_ece": ("ECE (15 bins)", "ECE（15 个分箱）"),
    "triage.metric_nll": ("NLL", "负对数似然"),
}
