# Sourced by the inference shell tests: builds, in $T, a tiny tokenizer (with the chat pieces)
# and a briefly trained tiny checkpoint from the committed demo corpus. Sets CKPT.
make_infer_fixture() {
  (bzcat demo/kowiki-sample.txt.bz2 || true) | head -400 | grep -v '^[[:space:]]*$' > "$T/text.txt"
  echo "<|system|> <|user|> <|assistant|>" >> "$T/text.txt"
  "$KRLLM" tokenizer train --input "$T/text.txt" --output "$T/tok" --vocab_size 1200 \
    --user_defined_symbols "<|system|>,<|user|>,<|assistant|>" > /dev/null 2>&1 || fail "tokenizer train"
  "$KRLLM" tokenize --tokenizer "$T/tok.model" --input "$T/text.txt" --output "$T/train.bin" > /dev/null 2>&1 || fail "tokenize"
  cat > "$T/model.yaml" <<YAML
name: infer-tiny
vocab_size: 1200
hidden_size: 64
num_layers: 2
num_heads: 4
num_kv_heads: 2
intermediate_size: 128
max_seq_len: 128
YAML
  cat > "$T/train.yaml" <<YAML
training:
  batch_size: 4
  seq_len: 64
  max_steps: 20
  seed: 3
  mixed_precision: "no"
  num_threads: 1
optimizer:
  learning_rate: 1.0e-2
  min_lr: 1.0e-3
scheduler:
  warmup_steps: 2
data:
  train_data: $T/train.bin
  val_data: $T/train.bin
  tokenizer: $T/tok.model
checkpoint:
  eval_interval: 20
  eval_steps: 1
  save_interval: 20
  save_total_limit: 1
  log_interval: 10
  output_dir: $T/run
YAML
  "$KRLLM" train --config "$T/train.yaml" --model_config "$T/model.yaml" > /dev/null 2>&1 || fail "train"
  CKPT=$T/run
}
