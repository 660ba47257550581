"""Translation entries of the Adversarial page and robustness report: (English, Simplified Chinese) pairs.

Merged into :data:`ui.i18n.STRINGS`, the one table every page reads through ``t``.
"""

from __future__ import annotations

STRINGS_ADVERSARIAL: dict[str, tuple[str, str]] = {
    "adversarial.title": ("Adversarial flips", "对抗翻转"),
    "adversarial.intro": (
        "Find small edits that change the run's prediction, see how often they succeed, and compare how robust runs "
        "are. Attacks run in the background on the run's own model, offline.",
        "寻找能改变模型预测的微小改动，查看其成功率，并比较各运行的鲁棒性。攻击在后台用该运行自己的模型离线执行。",
    ),
    "adversarial.attack_title": ("Run an attack", "发起攻击"),
    "adversarial.selection": ("Samples", "样本"),
    "adversarial.selection_uncertain": ("Most uncertain rows of a split", "某一划分中最不确定的行"),
    "adversarial.selection_split": ("First rows of a split", "某一划分的前若干行"),
    "adversarial.selection_rows": ("Rows by position", "按位置指定行"),
    "adversarial.split": ("Split", "数据划分"),
    "adversarial.row_count": ("Rows to attack", "攻击行数"),
    "adversarial.row_count_help": (
        "Each attacked row costs up to the query budget in model calls; start with a few dozen.",
        "每攻击一行最多消耗查询预算那么多次模型调用；建议先从几十行开始。",
    ),
    "adversarial.positions": ("Row positions", "行位置"),
    "adversarial.positions_help": (
        "Comma-separated positions as shown in the Id column of Explore, for example 3, 17, 42.",
        "用逗号分隔的行位置，即探索页 Id 列中的数字，例如 3, 17, 42。",
    ),
    "adversarial.bad_position": (
        "Row position {value!r} is not a whole number between 0 and {last}. Use the Id column of Explore.",
        "行位置 {value!r} 不是 0 到 {last} 之间的整数。请使用探索页中的 Id 列。",
    ),
    "adversarial.no_positions": (
        "Enter at least one row position, for example 3, 17, 42.",
        "请至少填写一个行位置，例如 3, 17, 42。",
    ),
    "adversarial.recipe": ("Attack recipe", "攻击方案"),
    "adversarial.recipe_charbug": ("Character edits (DeepWordBug style)", "字符级改动（DeepWordBug 风格）"),
    "adversarial.recipe_embedding": ("Word swaps: embedding neighbours", "词替换：嵌入空间近邻"),
    "adversarial.recipe_hotflip": ("Gradient-guided token flips (HotFlip)", "梯度引导的 token 翻转（HotFlip）"),
    "adversarial.recipe_mlm": ("Word swaps: masked language model", "词替换：掩码语言模型"),
    "adversarial.recipe_charbug_help": (
        "Swaps, substitutes, deletes or inserts letters, or uses look-alike characters, in the most important words. "
        "Cheap and model-agnostic.",
        "在最重要的词中交换、替换、删除或插入字母，或换成形近字符。开销小，适用于任何模型。",
    ),
    "adversarial.recipe_embedding_help": (
        "Replaces important words with their nearest whole words in the model's input-embedding space.",
        "把重要的词替换为模型输入嵌入空间中最近的完整词。",
    ),
    "adversarial.recipe_hotflip_help": (
        "Ranks replacement tokens by the gradient of the loss and keeps the best with a small beam search.",
        "按损失梯度对候选 token 排序，用小规模束搜索保留最优结果。",
    ),
    "adversarial.recipe_mlm_help": (
        "Proposes replacements from a masked language model you provide as a local folder.",
        "由你提供的本地掩码语言模型目录给出替换候选。",
    ),
    "adversarial.constraints": ("Constraints and search", "约束与搜索"),
    "adversarial.max_words_changed": ("Largest share of words changed", "最多改动的词比例"),
    "adversarial.max_words_changed_help": (
        "A text of W words may change at most this share of them (rounded down).",
        "含 W 个词的文本最多改动这一比例的词（向下取整）。",
    ),
    "adversarial.min_similarity": ("Minimum sentence similarity", "最低句子相似度"),
    "adversarial.min_similarity_help": (
        "Cosine similarity of the built-in sentence encoder's embeddings of the original and the edited text. 0 "
        "turns the check off.",
        "内置句向量编码器对原文与改动后文本的嵌入余弦相似度。设为 0 即不检查。",
    ),
    "adversarial.max_queries": ("Query budget per sample", "每个样本的查询预算"),
    "adversarial.max_queries_help": (
        "The most texts the model scores for one sample, the original included. Never exceeded.",
        "模型为一个样本打分的最多文本数（含原文），不会超出。",
    ),
    "adversarial.time_limit": ("Time limit per sample (s)", "每个样本的时间上限（秒）"),
    "adversarial.search": ("Search", "搜索策略"),
    "adversarial.search_greedy": ("Greedy by word importance", "按词重要性贪心搜索"),
    "adversarial.search_beam": ("Beam search", "束搜索"),
    "adversarial.beam_width": ("Beam width", "束宽"),
    "adversarial.protect_stop_words": ("Leave stop words alone", "不改动停用词"),
    "adversarial.protect_entities": ("Leave named entities alone", "不改动命名实体"),
    "adversarial.protect_entities_help": (
        "Capitalised words that do not start a sentence count as named entities.",
        "不在句首的首字母大写的词视为命名实体。",
    ),
    "adversarial.character_edits": ("Character edits", "字符改动方式"),
    "adversarial.edit_swap": ("swap neighbours", "交换相邻字符"),
    "adversarial.edit_substitute": ("substitute", "替换"),
    "adversarial.edit_delete": ("delete", "删除"),
    "adversarial.edit_insert": ("insert", "插入"),
    "adversarial.edit_homoglyph": ("look-alike character", "形近字符"),
    "adversarial.mlm_model": ("Masked language model folder", "掩码语言模型目录"),
    "adversarial.mlm_model_help": (
        "A local Hugging Face folder with a masked language model in safetensors format.",
        "本地 Hugging Face 格式的掩码语言模型目录（safetensors 格式）。",
    ),
    "adversarial.submit": ("Start the attack", "开始攻击"),
    "adversarial.submit_failed": ("Could not start the attack: {error}", "无法开始攻击：{error}"),
    "adversarial.job_succeeded": (
        "Attack finished in {seconds:.0f} s: {flipped} of {attacked} attacked rows flipped, {skipped} skipped. The "
        "results are listed below.",
        "攻击完成，用时 {seconds:.0f} 秒：被攻击的 {attacked} 行中有 {flipped} 行翻转，跳过 {skipped} 行。结果列在下方。",
    ),
    "adversarial.results_title": ("Flips found", "已发现的预测翻转"),
    "adversarial.no_attacks": (
        "No attack on this run yet. Start one above; results appear here when the job finishes.",
        "此运行还没有攻击结果。请在上方发起攻击，任务完成后结果会显示在这里。",
    ),
    "adversarial.attack": ("Attack", "攻击记录"),
    "adversarial.attack_option": ("{recipe} · {created} · {rows} rows", "{recipe} · {created} · {rows} 行"),
    "adversarial.load_failed": ("Could not read the attack: {error}", "无法读取攻击结果：{error}"),
    "adversarial.success_rate": ("Success rate", "攻击成功率"),
    "adversarial.success_rate_help": (
        "Flipped samples divided by attacked samples (skipped samples are not attacked).",
        "预测被翻转的样本数除以被攻击的样本数（跳过的样本不计入）。",
    ),
    "adversarial.clean_accuracy": ("Clean accuracy", "原始准确率"),
    "adversarial.accuracy_under_attack": ("Accuracy under attack", "攻击下准确率"),
    "adversarial.accuracy_under_attack_help": (
        "Labelled rows that were predicted correctly and not flipped, divided by all labelled rows attacked.",
        "预测正确且未被翻转的带标签行，除以参与攻击的全部带标签行。",
    ),
    "adversarial.mean_queries": ("Mean queries", "平均查询次数"),
    "adversarial.mean_fraction_changed": ("Words changed (flips)", "改动词比例（翻转样本）"),
    "adversarial.skipped": ("Skipped", "跳过"),
    "adversarial.summary_caption": (
        "{rows} rows, {attacked} attacked, {flipped} flipped; {seconds:.2f} s per attacked sample.",
        "共 {rows} 行，攻击 {attacked} 行，翻转 {flipped} 行；每个被攻击样本用时 {seconds:.2f} 秒。",
    ),
    "adversarial.status_filter": ("Show", "显示"),
    "adversarial.status_flipped": ("flipped", "已翻转"),
    "adversarial.status_failed": ("not flipped", "未翻转"),
    "adversarial.status_skipped": ("skipped", "跳过"),
    "adversarial.reason_empty_text": ("empty text", "文本为空"),
    "adversarial.reason_already_misclassified": ("already misclassified", "原本已预测错误"),
    "adversarial.reason_too_few_words": ("too few words", "词数太少"),
    "adversarial.reason_no_candidate_words": ("no word may change", "没有可改动的词"),
    "adversarial.reason_budget_exhausted": ("query budget used up", "查询预算用尽"),
    "adversarial.reason_time_limit": ("time limit reached", "达到时间上限"),
    "adversarial.reason_no_flip_found": ("no flip found", "未找到翻转"),
    "adversarial.reason_max_words_changed": ("word limit reached", "达到改动词数上限"),
    "adversarial.column_position": ("Id", "Id"),
    "adversarial.column_status": ("Result", "结果"),
    "adversarial.column_reason": ("Reason", "原因"),
    "adversarial.column_original": ("Original text", "原文"),
    "adversarial.column_adversarial": ("Adversarial text", "对抗样本"),
    "adversarial.column_label": ("Label", "标签"),
    "adversarial.column_before": ("Predicted before", "攻击前预测"),
    "adversarial.column_after": ("Predicted after", "攻击后预测"),
    "adversarial.column_queries": ("Queries", "查询次数"),
    "adversarial.column_fraction": ("Words changed", "改动词比例"),
    "adversarial.column_similarity": ("Similarity", "相似度"),
    "adversarial.pick_row": ("Select a row to see the edit and the probabilities.", "选择一行以查看改动与概率。"),
    "adversarial.sample_title": ("Row {position}: what changed", "第 {position} 行：改动了什么"),
    "adversarial.prediction": ("Prediction after the edit", "改动后的预测"),
    "adversarial.was": ("was {label}", "原为 {label}"),
    "adversarial.entropy": ("Entropy after the edit", "改动后的熵"),
    "adversarial.queries": ("Queries used", "已用查询次数"),
    "adversarial.similarity": ("Sentence similarity", "句子相似度"),
    "adversarial.before": ("before", "攻击前"),
    "adversarial.after": ("after", "攻击后"),
    "adversarial.open_attributions": (
        "Compare the attributions of both texts", "比较两段文本的归因",
    ),
    "adversarial.download_training_rows": (
        "Download {rows} flips as training rows (CSV)", "下载 {rows} 条翻转样本作为训练数据（CSV）",
    ),
    "adversarial.download_training_rows_help": (
        "Each flipped text with its original gold label. Add the file to the data to train on the adversarial "
        "examples.",
        "每条被翻转的文本配上其原始真实标签。将此文件加入数据即可在对抗样本上训练。",
    ),
    "adversarial.robustness_title": ("Robustness report", "鲁棒性报告"),
    "adversarial.compare_runs": ("Runs to compare", "要比较的运行"),
    "adversarial.compare_runs_help": (
        "For example a run trained with PGD next to one trained without it. Each run's newest attack per recipe is "
        "used.",
        "例如把用 PGD 对抗训练的运行与未用的运行放在一起。每个运行按攻击方案取最新的一次攻击。",
    ),
    "adversarial.test_rows": ("Test rows", "测试集行数"),
    "adversarial.test_accuracy": ("Clean test accuracy", "测试集原始准确率"),
    "adversarial.test_ece": ("Clean test ECE", "测试集 ECE"),
    "adversarial.test_nll": ("Clean test NLL", "测试集 NLL"),
    "adversarial.report_accuracy_under_attack": ("{recipe}: accuracy under attack", "{recipe}：攻击下准确率"),
    "adversarial.report_success_rate": ("{recipe}: success rate", "{recipe}：攻击成功率"),
    "adversarial.report_mean_queries_to_flip": ("{recipe}: queries to flip", "{recipe}：翻转所需查询次数"),
    "adversarial.report_rows": ("{recipe}: rows attacked", "{recipe}：攻击行数"),
    "adversarial.report_note": (
        "Accuracy under attack covers the attacked rows only; when an attack covered part of the test split, "
        "compare it with that attack's clean accuracy above, not with the whole split's.",
        "攻击下准确率只统计被攻击的行；若攻击只覆盖了测试集的一部分，请与上方该次攻击的原始准确率比较，而不是与整个测试集比较。",
    ),
}
