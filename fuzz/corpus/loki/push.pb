
(
{app="api"}
─Бо╙hello
kv