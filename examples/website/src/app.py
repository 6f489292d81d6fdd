import streamlit as st


def helloworld():
    st.title("Henri Vandersleyen's Website")
    st.header("Hello World!")


helloworld()
