"""Contact-center KPIs from the timeline, and Erlang C staffing estimates."""
